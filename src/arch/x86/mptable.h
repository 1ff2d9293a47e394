// The Intel MultiProcessor Specification 1.4 table: how guests that do not
// use ACPI (or boot with acpi=off) find their CPUs, the IOAPIC and the
// routing of ISA (and PCI) interrupts.
#pragma once

#include <cstdint>

#include "arch/x86/acpi.h"
#include "base/guest_memory.h"

namespace insula::x86 {

// Writes the MP floating pointer at kMpTableAddr and the configuration
// table right after it: one processor entry per CPU (APIC IDs 0..n-1, CPU 0
// the BSP), an ISA bus (and PCI bus 0 when cfg.pci, with one I/O interrupt
// entry per cfg.intx route), the IOAPIC (ID num_cpus), ISA IRQs 0-15
// identity-mapped except IRQ0 -> pin 2, ExtINT on LINT0 and NMI on LINT1.
// Uses cfg.num_cpus, cfg.pci and cfg.intx. Returns the floating pointer's
// address. Throws Error on an invalid config or when the area is not RAM.
uint64_t build_mptable(const AcpiConfig& cfg, const GuestMemory& mem);

// Same without PCI.
uint64_t build_mptable(int num_cpus, const GuestMemory& mem);

}  // namespace insula::x86
