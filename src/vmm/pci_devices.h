// PciDevices: the machine's PCI bus 0 and its virtio devices, wired to KVM.
//
// Owns the device EventLoop thread (ioeventfd notifications, tap, sockets,
// console input), maps BARs on the MMIO bus as the guest programs them
// (PciBarListener), registers an ioeventfd per virtqueue notify address, and
// sends MSI-X interrupts with KVM_SIGNAL_MSI (INTx through the IOAPIC when a
// guest does not enable MSI-X).
#pragma once

#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "base/event_loop.h"
#include "base/fd.h"
#include "base/guest_memory.h"
#include "devices/io_bus.h"
#include "devices/pci/pci_bus.h"
#include "devices/virtio/virtio_balloon.h"
#include "devices/virtio/virtio_blk.h"
#include "devices/virtio/virtio_net.h"
#include "devices/virtio/queue_eventfds.h"
#include "devices/virtio/virtio_pci.h"
#include "kvm/kvm.h"
#include "vmm/disk_snapshots.h"
#include "vmm/machine_config.h"
#include "vmm/msi_routes.h"

namespace insula {
class StateReader;
class StateWriter;
}  // namespace insula

namespace insula::vmm {

class PciDevices : public pci::PciBarListener {
 public:
  // Puts the config mechanisms on the buses and creates the devices config
  // asks for. Throws Error naming the device that could not be set up.
  // legacy_routes: the machine's PIC/IOAPIC routing, kept at the head of the
  // GSI table that MSI-X routes are added to.
  PciDevices(kvm::Vm& vm, IoBus& pio, IoBus& mmio, const GuestMemory& mem, const MachineConfig& config,
             uint64_t ram_size, std::vector<kvm_irq_routing_entry> legacy_routes);
  ~PciDevices() override;

  // Slots in use (bus 0), for the ACPI _PRT and the MP table.
  std::vector<int> slots() const;
  virtio::VirtioBalloon* balloon() { return balloon_.get(); }
  // The i-th disk and net of the config (null past the end).
  virtio::VirtioBlk* disk(size_t i) { return i < disks_.size() ? disks_[i].get() : nullptr; }
  virtio::VirtioNet* net(size_t i) { return i < nets_.size() ? nets_[i].get() : nullptr; }
  // PATCH /drives path_on_host: opens d (as the config's disks are opened)
  // and puts it behind disk i. Throws Error, changing nothing, if it cannot.
  void replace_disk(size_t i, const DiskConfig& d);
  // The disks as opened, in config order (snapshots go through these).
  const std::vector<OpenDisk>& disks() const { return open_disks_; }

  // Snapshot state (pci_devices_state.cc), by stable section ids: the host
  // bridge's config space, and per virtio device its PCI/virtio transport
  // (config space, MSI-X table, features, status, queues) and the device's
  // own state. restore() also maps the BARs the guest had enabled and
  // rebuilds the MSI-X routes, so the machine can resume at once.
  void save(StateWriter& w) const;
  void restore(const StateReader& r);
  std::vector<std::string> section_ids() const;
  // With the vCPUs paused: parks the device thread (tap, sockets, console
  // input and queue kicks wait) and drains the devices' workers, so nothing
  // writes guest memory or the rings while a snapshot reads them; resume()
  // lets the thread go on.
  void quiesce();
  void resume();
  // Every virtio device's VirtioPci::log_state (a hang dump).
  void log_state();

  void bar_changed(pci::PciFunction& function, int bar, std::optional<pci::BarMapping> old_mapping,
                   std::optional<pci::BarMapping> new_mapping) override;

 private:
  void add(std::shared_ptr<virtio::VirtioDevice> device);
  void map_notifies(virtio::VirtioPci& dev, uint64_t bar_address);
  void unmap_notifies(virtio::VirtioPci& dev);

  kvm::Vm& vm_;
  IoBus& mmio_;
  GuestMemory mem_;
  EventLoop loop_;
  std::thread loop_thread_;
  pci::PciBus bus_;
  std::unique_ptr<MsiRoutes> msi_;
  std::vector<std::unique_ptr<IrqLine>> intx_;
  std::vector<std::shared_ptr<virtio::VirtioPci>> devices_;

  // quiesce(): the loop thread blocks in park_fd_'s callback while park_ is set.
  void park_loop();
  UniqueFd park_fd_;
  std::mutex park_mu_;
  std::condition_variable park_cv_;
  bool park_ = false;
  bool loop_parked_ = false;
  std::shared_ptr<virtio::VirtioBalloon> balloon_;
  std::vector<std::shared_ptr<virtio::VirtioBlk>> disks_;
  std::vector<std::shared_ptr<virtio::VirtioNet>> nets_;
  std::vector<OpenDisk> open_disks_;  // the same disks, as snapshots see them

  // Per device: one eventfd per queue (served by loop_), and where each is
  // registered with KVM while BAR 0 is decoded.
  struct Kicks {
    std::unique_ptr<virtio::QueueEventfds> fds;
    std::optional<uint64_t> bar_address;
  };
  std::mutex kicks_mu_;
  std::map<virtio::VirtioPci*, Kicks> kicks_;
};

}  // namespace insula::vmm
