// How device models raise interrupts, independent of KVM.
//
// The machine gives each device the kind of line it needs; the KVM-backed
// implementations live in vmm/ (KVM_IRQ_LINE, irqfd, KVM_SIGNAL_MSI) and unit
// tests use recording fakes.
#pragma once

#include <cstdint>

namespace insula {

// A wire to the PIC/IOAPIC (ISA IRQ or PCI INTx GSI).
class IrqLine {
 public:
  virtual ~IrqLine() = default;
  virtual void set_level(bool high) = 0;
  // An edge: raise then lower.
  virtual void pulse() {
    set_level(true);
    set_level(false);
  }
};

// Delivers a message-signalled interrupt (the address/data pair a guest
// programmed into an MSI or MSI-X table entry).
class MsiSender {
 public:
  virtual ~MsiSender() = default;
  virtual void send(uint64_t address, uint32_t data) = 0;
};

}  // namespace insula
