// PreparedVm: see prepared_vm.h.
#include "vmm/prepared_vm.h"

#include "arch/x86/guest_layout.h"
#include "arch/x86/layout.h"

namespace insula::vmm {

// The PC's interrupt wiring, as firmware and the MADT describe it: ISA IRQ i
// reaches PIC pin i and IOAPIC pin i, except the PIT's IRQ 0, which is IOAPIC
// pin 2 (the MADT's interrupt source override); pins 16-23 are PCI INTx.
// KVM's default routing sends GSI 0 to IOAPIC pin 0, where no guest looks.
std::vector<kvm_irq_routing_entry> legacy_gsi_routes() {
  std::vector<kvm_irq_routing_entry> routes;
  auto add = [&](uint32_t gsi, uint32_t chip, uint32_t pin) {
    kvm_irq_routing_entry e{};
    e.gsi = gsi;
    e.type = KVM_IRQ_ROUTING_IRQCHIP;
    e.u.irqchip.irqchip = chip;
    e.u.irqchip.pin = pin;
    routes.push_back(e);
  };
  for (uint32_t irq = 0; irq < 16; ++irq) {
    if (irq == 2) continue;  // the PIC cascade
    add(irq, irq < 8 ? KVM_IRQCHIP_PIC_MASTER : KVM_IRQCHIP_PIC_SLAVE, irq % 8);
    add(irq, KVM_IRQCHIP_IOAPIC, irq == 0 ? 2 : irq);
  }
  for (uint32_t pin = 16; pin < 24; ++pin) add(pin, KVM_IRQCHIP_IOAPIC, pin);
  return routes;
}

void register_guest_ram(kvm::Vm& vm, const GuestRam& ram) {
  vm.set_user_memory_region(0, 0, ram.lowmem_size(), ram.host());
  if (ram.highmem_size()) vm.set_user_memory_region(1, x86::k4GiB, ram.highmem_size(), ram.host() + ram.lowmem_size());
}

void unregister_guest_ram(kvm::Vm& vm, const GuestRam& ram) {
  vm.set_user_memory_region(0, 0, 0, ram.host());
  if (ram.highmem_size()) vm.set_user_memory_region(1, x86::k4GiB, 0, ram.host() + ram.lowmem_size());
}

PreparedVm::PreparedVm(uint64_t memory_hint) : backend(kvm::detect_backend()), vm(kvm) {
  vm.set_tss_addr(x86::kKvmTssAddr);
  vm.set_identity_map_addr(x86::kKvmIdentityMapAddr);
  vm.create_irqchip();
  vm.set_gsi_routing(legacy_gsi_routes());
  vm.create_pit2();
  // Asked once per process and remembered: the vCPUs' setup reads them.
  kvm.supported_cpuid();
  kvm.msr_index_list();
  if (memory_hint) {
    ram = std::make_unique<GuestRam>(memory_hint, x86::kPciHoleStart);
    register_guest_ram(vm, *ram);
  }
}

}  // namespace insula::vmm
