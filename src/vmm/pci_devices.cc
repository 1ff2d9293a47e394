// PCI bus 0 and virtio devices, KVM side.
#include "vmm/pci_devices.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>

#include "arch/x86/layout.h"
#include "base/error.h"
#include "base/log.h"
#include "block/block_device.h"
#include "devices/virtio/tap.h"
#include "devices/virtio/virtio_blk.h"
#include "devices/virtio/virtio_console.h"
#include "devices/virtio/virtio_net.h"
#include "devices/virtio/virtio_rng.h"
#include "devices/virtio/virtio_vsock.h"
#include "vmm/device_options.h"
#include "vmm/kvm_irq.h"

namespace insula::vmm {

namespace {
std::shared_ptr<block::BlockDevice> open_disk(const DiskConfig& d) {
  block::OpenOptions o;
  o.read_only = d.read_only;
  o.format = d.format;
  o.cache = d.direct ? block::CacheMode::kDirect : block::CacheMode::kWriteback;
  try {
    return block::open_image(d.path, o);
  } catch (const Error&) {
    rethrow_with_context(fmt::format("--disk {}", d.path));
  }
}
}  // namespace

PciDevices::PciDevices(kvm::Vm& vm, IoBus& pio, IoBus& mmio, const GuestMemory& mem, const MachineConfig& config,
                       uint64_t ram_size, std::vector<kvm_irq_routing_entry> legacy_routes)
    : vm_(vm), mmio_(mmio), mem_(mem), msi_(std::make_unique<MsiRoutes>(vm, std::move(legacy_routes))) {
  pio.add(pci::kConfigIoBase, pci::kConfigIoSize, bus_.config_io(), "pci-config");
  mmio.add(x86::kPciEcamBase, pci::kEcamBusSize, bus_.ecam(), "pci-ecam");
  bus_.set_bar_listener(this);

  if (config.rng) add(std::make_shared<virtio::VirtioRng>());
  if (config.virtio_console) add(std::make_shared<virtio::VirtioConsole>(STDIN_FILENO, STDOUT_FILENO, &loop_));
  for (const auto& d : config.disks) {
    virtio::VirtioBlkOptions bo;
    bo.read_only = d.read_only;
    bo.serial = d.serial;
    // One queue per vCPU, like QEMU's virtio-blk-pci: the guest submits on
    // and is interrupted on the CPU that does the I/O.
    bo.num_queues = uint16_t(std::clamp<uint32_t>(config.cpus, 1, virtio::kBlkMaxQueues));
    bo.loop = &loop_;
    bo.rate_limiter = d.rate_limiter;
    bo.io_ring = d.io_uring;
    auto dev = open_disk(d);
    open_disks_.push_back({open_disks_.size(), d.path, d.read_only, dev});
    disks_.push_back(std::make_shared<virtio::VirtioBlk>(dev, bo));
    add(disks_.back());
  }
  for (const auto& n : config.nets) {
    int slot = static_cast<int>(devices_.size()) + 1;
    try {
      nets_.push_back(std::make_shared<virtio::VirtioNet>(virtio::Tap::open(n.tap), parse_mac(n.mac, slot), &loop_,
                                                          n.rx_rate_limiter, n.tx_rate_limiter));
      add(nets_.back());
    } catch (const Error&) {
      rethrow_with_context(fmt::format("--net {}", n.tap));
    }
  }
  if (config.vsock) {
    check_vsock(*config.vsock);
    auto v = std::make_shared<virtio::VirtioVsock>(config.vsock->cid, config.vsock->uds_path, &loop_);
    try {
      v->start();
    } catch (const Error&) {
      rethrow_with_context(fmt::format("--vsock {}", config.vsock->uds_path));
    }
    add(v);
  }
  if (config.balloon) {
    check_balloon(*config.balloon);
    balloon_ = std::make_shared<virtio::VirtioBalloon>(config.balloon->deflate_on_oom,
                                                      config.balloon->stats_polling_interval_s > 0);
    balloon_->set_target_pages(config.balloon->amount_mib * uint32_t(256));
    add(balloon_);
  }
  bus_.allocate_bars({x86::kPciMmio32Base, x86::kPciMmio32Size},
                     {x86::pci_mmio64_base(ram_size), x86::kPciMmio64Size});
  park_fd_.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!park_fd_) throw errno_error("creating the device thread's park eventfd");
  loop_.add(park_fd_.get(), [this](uint32_t) { park_loop(); });
  loop_thread_ = std::thread([this] { loop_.run(); });
}

void PciDevices::replace_disk(size_t i, const DiskConfig& d) {
  if (i >= disks_.size()) throw error("there is no disk {}", i);
  auto dev = open_disk(d);
  disks_[i]->replace_disk(dev);
  open_disks_[i].path = d.path;
  open_disks_[i].dev = std::move(dev);
}

void PciDevices::park_loop() {
  uint64_t v;
  while (::read(park_fd_.get(), &v, sizeof v) > 0) {
  }
  std::unique_lock lock(park_mu_);
  loop_parked_ = true;
  park_cv_.notify_all();
  park_cv_.wait(lock, [this] { return !park_; });
  loop_parked_ = false;
}

void PciDevices::log_state() {
  for (const auto& d : devices_) d->log_state();
}

void PciDevices::quiesce() {
  {
    std::unique_lock lock(park_mu_);
    park_ = true;
    uint64_t one = 1;
    if (::write(park_fd_.get(), &one, sizeof one) < 0) throw errno_error("parking the device thread");
    park_cv_.wait(lock, [this] { return loop_parked_; });
  }
  for (auto& d : devices_) d->device().quiesce();
}

void PciDevices::resume() {
  {
    std::lock_guard lock(park_mu_);
    park_ = false;
  }
  park_cv_.notify_all();
}

PciDevices::~PciDevices() {
  resume();
  loop_.stop();
  if (loop_thread_.joinable()) loop_thread_.join();
}

void PciDevices::add(std::shared_ptr<virtio::VirtioDevice> device) {
  // Device numbers are handed out in order from 1 (0 is the host bridge), so
  // the INTx wire can be chosen before the device is on the bus.
  int expected_slot = static_cast<int>(devices_.size()) + 1;
  if (expected_slot >= pci::kMaxDevices) throw Error("too many PCI devices: bus 0 has 31 slots");
  intx_.push_back(std::make_unique<KvmIrqLine>(vm_, x86::pci_intx_gsi(static_cast<uint8_t>(expected_slot), 0)));
  auto dev = std::make_shared<virtio::VirtioPci>(std::move(device), mem_, msi_.get(), intx_.back().get());
  msi_->watch(dev->msix());
  int slot = bus_.add(dev);
  if (slot != expected_slot) throw error("PCI slot {} assigned where {} was expected", slot, expected_slot);
  {
    std::lock_guard lock(kicks_mu_);
    kicks_[dev.get()].fds = std::make_unique<virtio::QueueEventfds>(dev, loop_);
  }
  devices_.push_back(std::move(dev));
}

std::vector<int> PciDevices::slots() const {
  std::vector<int> s;
  for (size_t i = 0; i < devices_.size(); ++i) s.push_back(static_cast<int>(i) + 1);
  return s;
}

void PciDevices::bar_changed(pci::PciFunction& function, int bar, std::optional<pci::BarMapping> old_mapping,
                             std::optional<pci::BarMapping> new_mapping) {
  auto* vdev = dynamic_cast<virtio::VirtioPci*>(&function);
  if (old_mapping) {
    mmio_.remove(old_mapping->address);
    if (vdev && bar == virtio::kVirtioBar) unmap_notifies(*vdev);
  }
  if (new_mapping) {
    try {
      mmio_.add(new_mapping->address, new_mapping->size,
                std::make_shared<pci::PciBarRegion>(function.shared_from_this(), bar), "pci-bar");
    } catch (const Error& e) {
      // The guest put a BAR over something else: the access then reaches
      // whatever was there first; the VM goes on.
      INSULA_LOG_WARN("PCI BAR {} at {:#x} not mapped: {}", bar, new_mapping->address, e.what());
      return;
    }
    if (vdev && bar == virtio::kVirtioBar) map_notifies(*vdev, new_mapping->address);
  }
}

void PciDevices::map_notifies(virtio::VirtioPci& dev, uint64_t bar_address) {
  std::lock_guard lock(kicks_mu_);
  auto& k = kicks_.at(&dev);
  for (size_t q = 0; q < k.fds->size(); ++q) {
    try {
      vm_.ioeventfd(k.fds->fd(q), bar_address + virtio::VirtioPci::notify_offset(q), 2, false);
    } catch (const Error& e) {
      // The MMIO write still reaches notify() on the vCPU thread.
      INSULA_LOG_DEBUG("no ioeventfd for queue {}: {}", q, e.what());
    }
  }
  k.bar_address = bar_address;
}

void PciDevices::unmap_notifies(virtio::VirtioPci& dev) {
  std::lock_guard lock(kicks_mu_);
  auto& k = kicks_.at(&dev);
  if (!k.bar_address) return;
  for (size_t q = 0; q < k.fds->size(); ++q) {
    try {
      vm_.ioeventfd(k.fds->fd(q), *k.bar_address + virtio::VirtioPci::notify_offset(q), 2, false, true);
    } catch (const Error&) {
    }
  }
  k.bar_address.reset();
}

}  // namespace insula::vmm
