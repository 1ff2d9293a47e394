// PciDevices: the machine's PCI bus 0 and its virtio devices, wired to KVM.
//
// Owns the device EventLoop thread (ioeventfd notifications, tap, sockets,
// console input), maps BARs on the MMIO bus as the guest programs them
// (PciBarListener), registers an ioeventfd per virtqueue notify address, and
// sends MSI-X interrupts with KVM_SIGNAL_MSI (INTx through the IOAPIC when a
// guest does not enable MSI-X).
#pragma once

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
#include "devices/virtio/queue_eventfds.h"
#include "devices/virtio/virtio_pci.h"
#include "kvm/kvm.h"
#include "vmm/machine_config.h"
#include "vmm/msi_routes.h"

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
  std::shared_ptr<virtio::VirtioBalloon> balloon_;

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
