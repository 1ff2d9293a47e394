// PciFunction: config space bytes with write masks, capabilities and BARs.
#include "devices/pci/pci_function.h"

#include <cstring>

#include "base/error.h"

namespace insula::pci {

PciFunction::PciFunction(const PciIds& ids, std::string name) : name_(std::move(name)) {
  set_cfg16(kVendorId, ids.vendor);
  set_cfg16(kDeviceId, ids.device);
  set_cfg8(kRevision, ids.revision);
  set_cfg8(kClassProgIf, uint8_t(ids.class_code));
  set_cfg8(kClassProgIf + 1, uint8_t(ids.class_code >> 8));
  set_cfg8(kClassProgIf + 2, uint8_t(ids.class_code >> 16));
  set_cfg8(kHeaderType, 0);
  set_cfg16(kSubsystemVendorId, ids.subsystem_vendor);
  set_cfg16(kSubsystemId, ids.subsystem);
  // Guest-writable: I/O, memory, bus-master enables and INTx disable.
  wmask_[kCommand] = kCommandIo | kCommandMemory | kCommandBusMaster;
  wmask_[kCommand + 1] = kCommandIntxDisable >> 8;
  wmask_[kInterruptLine] = 0xff;
  wmask_[0x0c] = 0xff;  // cache line size
  wmask_[0x0d] = 0xff;  // latency timer
}

void PciFunction::set_cfg16(uint32_t off, uint16_t v) {
  config_[off] = uint8_t(v);
  config_[off + 1] = uint8_t(v >> 8);
}

void PciFunction::set_cfg32(uint32_t off, uint32_t v) {
  set_cfg16(off, uint16_t(v));
  set_cfg16(off + 2, uint16_t(v >> 16));
}

void PciFunction::config_read(uint32_t offset, std::span<uint8_t> data) {
  {
    std::lock_guard lock(config_mu_);
    for (size_t i = 0; i < data.size(); i++) {
      uint64_t o = uint64_t(offset) + i;
      data[i] = o < kConfigSize ? config_[o] : 0xff;
    }
  }
  if (offset < kConfigSize) config_reading(offset, data);
}

void PciFunction::config_write(uint32_t offset, std::span<const uint8_t> data) {
  std::array<std::optional<BarMapping>, kNumBars> before, after;
  bool touches_decode = false;
  {
    std::lock_guard lock(config_mu_);
    for (int b = 0; b < kNumBars; b++) before[b] = mapping_locked(b);
    for (size_t i = 0; i < data.size(); i++) {
      uint64_t o = uint64_t(offset) + i;
      if (o >= kConfigSize) break;
      config_[o] = uint8_t((config_[o] & ~wmask_[o]) | (data[i] & wmask_[o]));
      if ((o >= kCommand && o < kCommand + 2) || (o >= kBar0 && o < kBar0 + 4 * kNumBars)) touches_decode = true;
    }
    for (int b = 0; b < kNumBars; b++) after[b] = mapping_locked(b);
  }
  if (offset < kConfigSize) config_written(offset, uint32_t(std::min<uint64_t>(data.size(), kConfigSize - offset)));
  if (!touches_decode || !listener_) return;
  for (int b = 0; b < kNumBars; b++) {
    bool same = before[b].has_value() == after[b].has_value() &&
                (!before[b] || (before[b]->address == after[b]->address && before[b]->size == after[b]->size));
    if (!same) listener_->bar_changed(*this, b, before[b], after[b]);
  }
}

void PciFunction::add_memory_bar(int bar, uint64_t size, bool is_64bit, bool prefetchable) {
  if (bar < 0 || bar >= kNumBars || (is_64bit && bar == kNumBars - 1))
    throw error("PCI {}: BAR {} cannot be used (64-bit BARs take two slots)", name_, bar);
  if (size < 4096 || (size & (size - 1)) != 0)
    throw error("PCI {}: BAR {} size {:#x} must be a power of two of at least 4 KiB", name_, bar, size);
  if (!is_64bit && size > (1ull << 31)) throw error("PCI {}: 32-bit BAR {} too large", name_, bar);
  std::lock_guard lock(config_mu_);
  if (bars_[bar].used || (is_64bit && bars_[bar + 1].used))
    throw error("PCI {}: BAR {} is already in use", name_, bar);
  bars_[bar] = Bar{size, is_64bit, true};
  uint32_t off = kBar0 + 4 * bar;
  uint32_t flags = (is_64bit ? 0x4 : 0) | (prefetchable ? 0x8 : 0);
  set_cfg32(off, flags);
  uint64_t mask = ~(size - 1);
  uint32_t lo_mask = uint32_t(mask) & 0xfffffff0u;
  for (int i = 0; i < 4; i++) wmask_[off + i] = uint8_t(lo_mask >> (8 * i));
  if (is_64bit) {
    bars_[bar + 1] = Bar{0, false, true};
    uint32_t hi_mask = uint32_t(mask >> 32);
    for (int i = 0; i < 4; i++) wmask_[off + 4 + i] = uint8_t(hi_mask >> (8 * i));
  }
}

uint16_t PciFunction::add_capability(uint8_t id, std::span<const uint8_t> body, std::span<const uint8_t> writable_mask) {
  std::lock_guard lock(config_mu_);
  size_t len = 2 + body.size();
  uint16_t off = next_cap_;
  if (off + len > 256) throw error("PCI {}: no room left for capability {:#x} in config space", name_, id);
  config_[off] = id;
  config_[off + 1] = 0;
  std::memcpy(&config_[off + 2], body.data(), body.size());
  for (size_t i = 0; i < writable_mask.size() && i < body.size(); i++) wmask_[off + 2 + i] = writable_mask[i];
  if (last_cap_ == 0) {
    config_[kCapPointer] = uint8_t(off);
    set_cfg16(kStatus, cfg16(kStatus) | kStatusCapList);
  } else {
    config_[last_cap_ + 1] = uint8_t(off);
  }
  last_cap_ = off;
  next_cap_ = uint16_t((off + len + 3) & ~3u);
  return off;
}

void PciFunction::set_interrupt_pin(uint8_t pin) {
  std::lock_guard lock(config_mu_);
  config_[kInterruptPin] = pin;
}

uint64_t PciFunction::bar_address_locked(int bar) const {
  if (bar < 0 || bar >= kNumBars || bars_[bar].size == 0) return 0;
  uint32_t off = kBar0 + 4 * bar;
  uint64_t addr = cfg32(off) & 0xfffffff0u;
  if (bars_[bar].is_64bit) addr |= uint64_t(cfg32(off + 4)) << 32;
  return addr;
}

uint64_t PciFunction::bar_address(int bar) const {
  std::lock_guard lock(config_mu_);
  return bar_address_locked(bar);
}

void PciFunction::set_bar_address(int bar, uint64_t address) {
  std::lock_guard lock(config_mu_);
  if (bar < 0 || bar >= kNumBars || bars_[bar].size == 0) throw error("PCI {}: BAR {} does not exist", name_, bar);
  if (address & (bars_[bar].size - 1)) throw error("PCI {}: BAR {} address {:#x} is not aligned", name_, bar, address);
  uint32_t off = kBar0 + 4 * bar;
  set_cfg32(off, (cfg32(off) & 0xf) | (uint32_t(address) & 0xfffffff0u));
  if (bars_[bar].is_64bit) set_cfg32(off + 4, uint32_t(address >> 32));
}

uint16_t PciFunction::command() const {
  std::lock_guard lock(config_mu_);
  return cfg16(kCommand);
}

std::optional<BarMapping> PciFunction::mapping_locked(int bar) const {
  const Bar& b = bars_[bar];
  if (b.size == 0 || !(cfg16(kCommand) & kCommandMemory)) return std::nullopt;
  uint64_t addr = bar_address_locked(bar);
  // Address 0 and the all-ones sizing pattern are not real placements: a
  // guest sizing a BAR with decode on must not map it over the top of memory.
  uint64_t probe = ~(b.size - 1) & (b.is_64bit ? ~0ull : 0xffffffffull) & ~0xfull;
  if (addr == 0 || addr == probe || addr + b.size < addr) return std::nullopt;
  return BarMapping{addr, b.size};
}

std::optional<BarMapping> PciFunction::bar_mapping(int bar) const {
  std::lock_guard lock(config_mu_);
  if (bar < 0 || bar >= kNumBars) return std::nullopt;
  return mapping_locked(bar);
}

std::vector<uint8_t> PciFunction::save_config() const {
  std::lock_guard lock(config_mu_);
  return {config_.begin(), config_.end()};
}

void PciFunction::restore_config(std::span<const uint8_t> bytes) {
  std::lock_guard lock(config_mu_);
  if (bytes.size() != kConfigSize) throw error("PCI {}: saved config space has {} bytes, expected {}", name_, bytes.size(), kConfigSize);
  std::memcpy(config_.data(), bytes.data(), kConfigSize);
}

}  // namespace insula::pci
