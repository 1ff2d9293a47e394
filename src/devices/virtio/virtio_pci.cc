// VirtioPci: capabilities, common config, status machine, notifications and
// interrupts of the modern virtio PCI transport.
#include "devices/virtio/virtio_pci.h"

#include <cstring>

#include "base/error.h"
#include "base/lock_within.h"
#include "base/log.h"

namespace insula::virtio {

namespace {

// virtio_pci_cap cfg_type values (virtio 1.2, 4.1.4).
constexpr uint8_t kCapCommon = 1;
constexpr uint8_t kCapNotify = 2;
constexpr uint8_t kCapIsr = 3;
constexpr uint8_t kCapDevice = 4;
constexpr uint8_t kCapPciCfg = 5;
// Offsets inside the PCI_CFG capability (from its id byte).
constexpr uint32_t kPciCfgBar = 4, kPciCfgOffset = 8, kPciCfgLength = 12, kPciCfgData = 16;

// Common config layout (struct virtio_pci_common_cfg).
constexpr uint32_t kDfSelect = 0, kDf = 4, kGfSelect = 8, kGf = 12, kMsixConfig = 16, kNumQueues = 18,
                   kDeviceStatus = 20, kConfigGeneration = 21, kQSelect = 22, kQSize = 24, kQMsix = 26,
                   kQEnable = 28, kQNotifyOff = 30, kQDesc = 32, kQDriver = 40, kQDevice = 48,
                   kQNotifyData = 56, kCommonSize = 64;

std::vector<uint8_t> virtio_cap_body(uint8_t type, uint32_t offset, uint32_t length, size_t extra) {
  // After the id/next header: cap_len, cfg_type, bar, id, padding[2], offset, length.
  std::vector<uint8_t> b(14 + extra);
  b[0] = uint8_t(2 + b.size());
  b[1] = type;
  b[2] = kVirtioBar;
  std::memcpy(&b[6], &offset, 4);
  std::memcpy(&b[10], &length, 4);
  return b;
}

void put(std::span<uint8_t> out, uint64_t base, uint64_t offset, const void* v, size_t n) {
  // Copies the part of field [offset, offset+n) that the read window [base, base+out.size()) covers.
  const auto* src = static_cast<const uint8_t*>(v);
  for (size_t i = 0; i < n; i++) {
    uint64_t o = offset + i;
    if (o >= base && o < base + out.size()) out[o - base] = src[i];
  }
}

}  // namespace

VirtioPci::VirtioPci(std::shared_ptr<VirtioDevice> device, GuestMemory memory, MsiSender* msi, IrqLine* intx)
    : pci::PciFunction(pci::PciIds{0x1af4, uint16_t(0x1040 + device->device_type()), 1, device->pci_class(), 0x1af4,
                                   0x40},
                       "virtio-" + device->name()),
      device_(std::move(device)),
      memory_(std::move(memory)),
      intx_(intx),
      msix_(uint16_t(device_->num_queues() + 1), msi) {
  for (size_t q = 0; q < device_->num_queues(); q++)
    queues_.push_back(std::make_unique<Virtqueue>(device_->queue_max_size(q)));
  add_memory_bar(kVirtioBar, kVirtioBarSize, true);
  auto common = virtio_cap_body(kCapCommon, kCommonCfgOffset, kCommonSize, 0);
  add_capability(pci::kCapIdVendor, common);
  auto notify = virtio_cap_body(kCapNotify, kNotifyOffset, uint32_t(queues_.size() * kNotifyMultiplier), 4);
  std::memcpy(&notify[14], &kNotifyMultiplier, 4);
  add_capability(pci::kCapIdVendor, notify);
  add_capability(pci::kCapIdVendor, virtio_cap_body(kCapIsr, kIsrOffset, 1, 0));
  add_capability(pci::kCapIdVendor, virtio_cap_body(kCapDevice, kDeviceCfgOffset, kRegionSize, 0));
  // Access to BAR 0 through config space (virtio 1.2, 4.1.4.9): bar, offset,
  // length and data are driver-writable.
  auto pci_cfg = virtio_cap_body(kCapPciCfg, 0, 0, 4);
  std::vector<uint8_t> pci_cfg_mask(pci_cfg.size(), 0);
  pci_cfg_mask[kPciCfgBar - 2] = 0xff;
  for (uint32_t i = kPciCfgOffset - 2; i < pci_cfg.size(); i++) pci_cfg_mask[i] = 0xff;
  pci_cfg_cap_ = add_capability(pci::kCapIdVendor, pci_cfg, pci_cfg_mask);
  msix_.add_capability(*this, kVirtioBar, kMsixTableOffset, kMsixPbaOffset);
  if (intx_) set_interrupt_pin(1);
}

VirtioPci::~VirtioPci() {
  std::lock_guard lock(mu_);
  if (active_) device_->reset();
}

uint64_t VirtioPci::offered_features() const {
  return device_->features() | kFVersion1 | kFRingIndirectDesc | kFRingEventIdx;
}

std::optional<uint64_t> VirtioPci::notify_address(size_t q) const {
  auto m = bar_mapping(kVirtioBar);
  if (!m || q >= queues_.size()) return std::nullopt;
  return m->address + notify_offset(q);
}

bool VirtioPci::pci_cfg_window(uint64_t& bar_offset, uint32_t& length) {
  uint8_t bar;
  {
    std::lock_guard lock(config_mu_);
    bar = cfg8(pci_cfg_cap_ + kPciCfgBar);
    bar_offset = cfg32(pci_cfg_cap_ + kPciCfgOffset);
    length = cfg32(pci_cfg_cap_ + kPciCfgLength);
  }
  return bar == kVirtioBar && (length == 1 || length == 2 || length == 4) && bar_offset % length == 0 &&
         bar_offset + length <= kVirtioBarSize;
}

void VirtioPci::config_reading(uint32_t offset, std::span<uint8_t> data) {
  uint32_t win = pci_cfg_cap_ + kPciCfgData;
  if (!(offset < win + 4 && offset + data.size() > win)) return;
  uint64_t bar_offset;
  uint32_t length;
  if (!pci_cfg_window(bar_offset, length)) return;
  uint8_t live[4] = {};
  bar_read(kVirtioBar, bar_offset, {live, length});
  for (size_t i = 0; i < data.size(); i++) {
    uint64_t o = offset + i;
    if (o >= win && o < win + length) data[i] = live[o - win];
  }
}

void VirtioPci::config_written(uint32_t offset, uint32_t len) {
  uint32_t win = pci_cfg_cap_ + kPciCfgData;
  if (offset < win + 4 && offset + len > win) {
    uint64_t bar_offset;
    uint32_t length;
    if (pci_cfg_window(bar_offset, length)) {
      uint8_t bytes[4];
      {
        std::lock_guard lock(config_mu_);
        for (uint32_t i = 0; i < 4; i++) bytes[i] = cfg8(win + i);
      }
      bar_write(kVirtioBar, bar_offset, {bytes, length});
    }
  }
  uint32_t ctrl = msix_.cap_offset() + 2;
  if (offset < ctrl + 2 && offset + len > ctrl) {
    uint16_t control;
    {
      std::lock_guard lock(config_mu_);
      control = cfg16(ctrl);
    }
    msix_.control_written(control);
  }
}

void VirtioPci::bar_read(int bar, uint64_t offset, std::span<uint8_t> data) {
  std::fill(data.begin(), data.end(), 0);
  if (bar != kVirtioBar) return;
  uint64_t region = offset & ~(kRegionSize - 1), off = offset - region;
  if (off + data.size() > kRegionSize) return;  // straddles two regions
  switch (region) {
    case kCommonCfgOffset:
      common_read(off, data);
      break;
    case kIsrOffset:
      if (off == 0) {
        // Reading ISR acknowledges it and lowers INTx (virtio 1.2, 4.1.4.5).
        data[0] = isr_.exchange(0);
        if (intx_) intx_->set_level(false);
      }
      break;
    case kDeviceCfgOffset: {
      std::lock_guard lock(mu_);
      device_->read_config(off, data);
      break;
    }
    case kMsixTableOffset:
      msix_.table_read(off, data);
      break;
    case kMsixPbaOffset:
      msix_.pba_read(off, data);
      break;
    default:
      break;
  }
}

void VirtioPci::bar_write(int bar, uint64_t offset, std::span<const uint8_t> data) {
  if (bar != kVirtioBar) return;
  uint64_t region = offset & ~(kRegionSize - 1), off = offset - region;
  if (off + data.size() > kRegionSize) return;
  switch (region) {
    case kCommonCfgOffset:
      common_write(off, data);
      break;
    case kDeviceCfgOffset: {
      std::lock_guard lock(mu_);
      device_->write_config(off, data);
      break;
    }
    case kNotifyOffset:
      if (off % kNotifyMultiplier == 0) notify(off / kNotifyMultiplier);
      break;
    case kMsixTableOffset:
      msix_.table_write(off, data);
      break;
    default:
      break;
  }
}

void VirtioPci::common_read(uint64_t off, std::span<uint8_t> data) {
  std::lock_guard lock(mu_);
  common_read_locked(off, data);
}

void VirtioPci::common_read_locked(uint64_t off, std::span<uint8_t> data) {
  uint64_t features = offered_features();
  uint32_t df = device_feature_select_ < 2 ? uint32_t(features >> (32 * device_feature_select_)) : 0;
  uint32_t gf = driver_feature_select_ < 2 ? uint32_t(driver_features_.load() >> (32 * driver_feature_select_)) : 0;
  uint16_t msix_config = config_msix_vector_.load(), nq = uint16_t(queues_.size());
  uint8_t status = status_.load(), gen = config_generation_.load();
  put(data, off, kDfSelect, &device_feature_select_, 4);
  put(data, off, kDf, &df, 4);
  put(data, off, kGfSelect, &driver_feature_select_, 4);
  put(data, off, kGf, &gf, 4);
  put(data, off, kMsixConfig, &msix_config, 2);
  put(data, off, kNumQueues, &nq, 2);
  put(data, off, kDeviceStatus, &status, 1);
  put(data, off, kConfigGeneration, &gen, 1);
  put(data, off, kQSelect, &queue_select_, 2);
  if (queue_select_ < queues_.size()) {
    Virtqueue& q = *queues_[queue_select_];
    uint16_t enable = q.ready, notify_off = queue_select_;
    put(data, off, kQSize, &q.size, 2);
    put(data, off, kQMsix, &q.msix_vector, 2);
    put(data, off, kQEnable, &enable, 2);
    put(data, off, kQNotifyOff, &notify_off, 2);
    put(data, off, kQDesc, &q.desc_addr, 8);
    put(data, off, kQDriver, &q.avail_addr, 8);
    put(data, off, kQDevice, &q.used_addr, 8);
    put(data, off, kQNotifyData, &notify_off, 2);
  }
}

void VirtioPci::common_write(uint64_t off, std::span<const uint8_t> data) {
  std::lock_guard lock(mu_);
  // Merge the written bytes into the current register image, then apply each
  // field the write touched: handles 8/16/32-bit accesses and split 64-bit
  // address writes alike.
  if (off + data.size() > kCommonSize) return;
  uint8_t image[kCommonSize] = {};
  common_read_locked(0, image);
  std::memcpy(image + off, data.data(), data.size());
  auto touched = [&](uint32_t field, uint32_t size) { return off < field + size && off + data.size() > field; };
  auto get16 = [&](uint32_t o) { return uint16_t(image[o] | image[o + 1] << 8); };
  auto get32 = [&](uint32_t o) { return uint32_t(get16(o)) | uint32_t(get16(o + 2)) << 16; };
  auto get64 = [&](uint32_t o) { return uint64_t(get32(o)) | uint64_t(get32(o + 4)) << 32; };
  if (touched(kDfSelect, 4)) device_feature_select_ = get32(kDfSelect);
  if (touched(kGfSelect, 4)) driver_feature_select_ = get32(kGfSelect);
  if (touched(kGf, 4) && driver_feature_select_ < 2 && !(status_.load() & kStatusFeaturesOk)) {
    uint64_t shift = 32 * driver_feature_select_;
    uint64_t f = driver_features_.load();
    f = (f & ~(0xffffffffull << shift)) | (uint64_t(get32(kGf)) << shift);
    driver_features_.store(f);
  }
  if (touched(kMsixConfig, 2)) {
    uint16_t v = get16(kMsixConfig);
    config_msix_vector_.store(v < msix_.vectors() ? v : kNoVector);
  }
  if (touched(kDeviceStatus, 1)) set_status_locked(image[kDeviceStatus]);
  if (touched(kQSelect, 2)) queue_select_ = get16(kQSelect);
  if (queue_select_ >= queues_.size()) return;
  Virtqueue& q = *queues_[queue_select_];
  if (touched(kQMsix, 2)) {
    uint16_t v = get16(kQMsix);
    q.msix_vector = v < msix_.vectors() ? v : kNoVector;
  }
  // The driver must not change a queue once enabled (virtio 1.2, 4.1.4.3.2).
  if (q.ready) return;
  if (touched(kQSize, 2)) q.size = get16(kQSize);  // checked at DRIVER_OK
  if (touched(kQDesc, 8)) q.desc_addr = get64(kQDesc);
  if (touched(kQDriver, 8)) q.avail_addr = get64(kQDriver);
  if (touched(kQDevice, 8)) q.used_addr = get64(kQDevice);
  if (touched(kQEnable, 2) && get16(kQEnable) == 1) q.ready = true;
}

void VirtioPci::set_status_locked(uint8_t status) {
  uint8_t old = status_.load();
  if (status == 0) {
    reset_locked();
    return;
  }
  if ((status & kStatusFeaturesOk) && !(old & kStatusFeaturesOk)) {
    uint64_t f = driver_features_.load();
    if ((f & ~offered_features()) || !(f & kFVersion1)) {
      INSULA_LOG_WARN("{}: driver accepted features {:#x} not offered ({:#x}) or without VERSION_1", name(), f,
                      offered_features());
      status &= uint8_t(~kStatusFeaturesOk);
    }
  }
  // Keep NEEDS_RESET once set; the driver clears it only by a reset.
  status_.store(uint8_t(status | (old & kStatusNeedsReset)));
  if ((status & kStatusDriverOk) && !(old & kStatusDriverOk) && !active_) {
    if (!(status & kStatusFeaturesOk)) {
      status_.fetch_or(kStatusNeedsReset);
      INSULA_LOG_WARN("{}: DRIVER_OK without FEATURES_OK", name());
      return;
    }
    bool event_idx = driver_features_.load() & kFRingEventIdx;
    for (auto& q : queues_) {
      if (!q->ready) continue;
      std::string why;
      if (!q->check(memory_, why)) {
        INSULA_LOG_WARN("{}: {}; device needs reset", name(), why);
        status_.fetch_or(kStatusNeedsReset);
        return;
      }
      q->set_event_idx(event_idx);
    }
    active_ = true;
    device_->activate(*this);
  }
}

void VirtioPci::reset_locked() {
  if (active_) device_->reset();
  active_ = false;
  for (auto& q : queues_) q->reset();
  status_.store(0);
  isr_.store(0);
  if (intx_) intx_->set_level(false);
  driver_features_.store(0);
  device_feature_select_ = driver_feature_select_ = 0;
  queue_select_ = 0;
  config_msix_vector_.store(kNoVector);
}

void VirtioPci::notify(size_t q) {
  std::lock_guard lock(mu_);
  if (!active_ || (status_.load() & kStatusNeedsReset) || q >= queues_.size() || !queues_[q]->ready) return;
  device_->queue_notify(q);
}

void VirtioPci::raise(uint16_t vector, uint8_t isr_bit) {
  if (msix_.enabled()) {
    if (vector != kNoVector) msix_.notify(vector);
    return;
  }
  isr_.fetch_or(isr_bit);
  if (intx_ && !(command() & pci::kCommandIntxDisable)) intx_->set_level(true);
}

void VirtioPci::signal_used(size_t q) {
  if (q >= queues_.size()) return;
  Virtqueue& vq = *queues_[q];
  if (!vq.needs_interrupt(memory_)) return;
  raise(vq.msix_vector, 1);
}

void VirtioPci::log_state() {
  // Under the transport's lock, as the guest's register writes are (queue
  // addresses, vectors); one held for a second (a deadlock) is said instead.
  std::unique_lock lock = lock_within(mu_, std::chrono::seconds(1));
  if (!lock) {
    INSULA_LOG_WARN("{}: its transport lock has been held for 1 s: not dumped", name());
    return;
  }
  auto vector = [&](uint16_t v) {
    if (v == kNoVector) return std::string("no vector");
    return fmt::format("vector {}{}{}", v, msix_.entry(v).masked ? " masked" : "", msix_.pending(v) ? " PENDING" : "");
  };
  INSULA_LOG_WARN("{}: status {:#x}, features {:#x}, MSI-X {}{}, config {}, ISR {:#x}", name(), status_.load(),
                  driver_features_.load(), msix_.enabled() ? "on" : "off", msix_.function_masked() ? " (function masked)" : "",
                  vector(config_msix_vector_.load()), isr_.load());
  for (size_t q = 0; q < queues_.size(); ++q)
    INSULA_LOG_WARN("{}: queue {}: {}, {}", name(), q, queues_[q]->describe(memory_), vector(queues_[q]->msix_vector));
  for (const std::string& line : device_->describe_state()) INSULA_LOG_WARN("{}: {}", name(), line);
}

void VirtioPci::signal_config() {
  config_generation_.fetch_add(1);
  raise(config_msix_vector_.load(), 2);
}

void VirtioPci::device_error(const std::string& what) {
  INSULA_LOG_WARN("{}: guest error: {}; device needs reset", name(), what);
  status_.fetch_or(kStatusNeedsReset);
  signal_config();
}

VirtioPciState VirtioPci::save() const {
  auto& self = const_cast<VirtioPci&>(*this);
  std::lock_guard lock(self.mu_);
  VirtioPciState s;
  s.config_space = save_config();
  s.msix = msix_.save();
  s.status = status_.load();
  s.isr = isr_.load();
  s.config_generation = config_generation_.load();
  s.device_feature_select = device_feature_select_;
  s.driver_feature_select = driver_feature_select_;
  s.driver_features = driver_features_.load();
  s.config_msix_vector = config_msix_vector_.load();
  s.queue_select = queue_select_;
  for (auto& q : queues_) s.queues.push_back(q->save());
  return s;
}

void VirtioPci::restore(const VirtioPciState& s) {
  if (s.version != VirtioPciState::kVersion || s.queues.size() != queues_.size())
    throw error("{}: saved transport state (version {}, {} queues) does not match this device", name(), s.version,
                s.queues.size());
  restore_config(s.config_space);
  msix_.restore(s.msix);
  config_written(msix_.cap_offset() + 2, 2);
  std::lock_guard lock(mu_);
  if (active_) device_->reset();
  active_ = false;
  isr_.store(s.isr);
  config_generation_.store(s.config_generation);
  device_feature_select_ = s.device_feature_select;
  driver_feature_select_ = s.driver_feature_select;
  driver_features_.store(s.driver_features);
  config_msix_vector_.store(s.config_msix_vector);
  queue_select_ = s.queue_select;
  for (size_t i = 0; i < queues_.size(); i++) queues_[i]->restore(s.queues[i]);
  status_.store(s.status);
  if ((s.status & kStatusDriverOk) && !(s.status & kStatusNeedsReset)) {
    active_ = true;
    device_->activate(*this);
  }
}

}  // namespace insula::virtio
