// MsiRoutes: MSI-X delivery through irqfds and KVM's GSI routing table.
//
// Every MSI-X vector a guest programs gets its own GSI (from 24 up, above the
// IOAPIC's pins) routed to the message the guest wrote, and an eventfd bound
// to it with KVM_IRQFD: raising the interrupt is then one write() that KVM
// turns into the MSI, without a trip through the routing code per interrupt.
// The legacy routes (PIC/IOAPIC pins) stay first in the table. A message that
// has no route yet (a race with the guest reprogramming the table) goes out
// with KVM_SIGNAL_MSI.
#pragma once

#include <linux/kvm.h>

#include <map>
#include <mutex>
#include <utility>
#include <vector>

#include "base/fd.h"
#include "devices/interrupts.h"
#include "devices/pci/msix.h"
#include "kvm/kvm.h"

namespace insula::vmm {

class MsiRoutes : public MsiSender {
 public:
  MsiRoutes(kvm::Vm& vm, std::vector<kvm_irq_routing_entry> legacy_routes);

  // Follows a device's MSI-X table: call with the transport's msix().
  void watch(pci::Msix& msix);

  void send(uint64_t address, uint32_t data) override;

 private:
  struct Route {
    uint32_t gsi;
    UniqueFd fd;
    uint64_t address = 0;
    uint32_t data = 0;
    bool programmed = false;
  };
  void entry_changed(const pci::Msix* msix, uint16_t vector, const pci::MsixEntry& entry);
  void commit_locked();  // KVM_SET_GSI_ROUTING with legacy + every programmed route

  kvm::Vm& vm_;
  const std::vector<kvm_irq_routing_entry> legacy_;
  std::mutex mu_;
  uint32_t next_gsi_ = 24;
  std::map<std::pair<const pci::Msix*, uint16_t>, Route> routes_;
  std::map<std::pair<uint64_t, uint32_t>, int> by_message_;  // (address, data) -> eventfd
};

}  // namespace insula::vmm
