// PreparedVm: the part of a KVM VM that no MachineConfig decides — the VM
// itself, its TSS and identity-map pages, the in-kernel irqchip with the PC's
// interrupt wiring, the PIT, and KVM's supported-CPUID and MSR lists. Several
// of these calls wait for the kernel (SRCU grace periods for the routing
// table, a kernel thread for the PIT), milliseconds on a loaded host, so an
// idle VMM prepares one ahead (api/vmm_service.cc) and the machine built at
// InstanceStart or snapshot load takes it over instead of waiting for them.
#pragma once

#include <memory>
#include <vector>

#include "kvm/kvm.h"
#include "vmm/guest_ram.h"

namespace insula::vmm {

struct PreparedVm {
  // Opens /dev/kvm and creates all of the above; throws Error on failure.
  // With memory_hint (bytes, the RAM the VM will likely have: the launcher
  // knows it, as QEMU's -m), also guest RAM of that size, anonymous and
  // untouched, registered with KVM as the machine's memory slots: that
  // registration waits for an SRCU grace period too.
  explicit PreparedVm(uint64_t memory_hint = 0);
  PreparedVm(const PreparedVm&) = delete;
  PreparedVm& operator=(const PreparedVm&) = delete;

  kvm::Backend backend;
  kvm::Kvm kvm;
  kvm::Vm vm;
  std::unique_ptr<GuestRam> ram;  // with a memory hint; a machine of another size unregisters it
};

// KVM memory slots 0 (RAM below the PCI hole) and 1 (the rest, from 4 GiB).
void register_guest_ram(kvm::Vm& vm, const GuestRam& ram);
void unregister_guest_ram(kvm::Vm& vm, const GuestRam& ram);

// The PC's interrupt wiring (GSI -> PIC/IOAPIC pins) the prepared VM was
// given; PCI devices add their MSI routes to it.
std::vector<kvm_irq_routing_entry> legacy_gsi_routes();

}  // namespace insula::vmm
