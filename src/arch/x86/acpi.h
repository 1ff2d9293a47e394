// ACPI tables for the x86 machine: what the machine calls to describe its
// CPUs, interrupt routing, power management and PCI host bridge to the guest.
//
// build_acpi() writes RSDP, XSDT, RSDT, FADT, FACS, DSDT, MADT and (with
// PCI) MCFG into the BIOS area (see layout.h). The tables are not
// hardware-reduced: power-off and the PM timer go through the fixed ACPI
// hardware modelled by devices/legacy/acpi_pm.h, the SCI is ISA IRQ 9.
// docs/firmware-tables.md explains every choice.
#pragma once

#include <cstdint>
#include <vector>

#include "arch/x86/layout.h"
#include "base/guest_memory.h"

namespace insula::x86 {

// One legacy PCI interrupt wire: device `slot` on bus 0, `pin` 0..3 for
// INTA..INTD, wired to IOAPIC input `gsi` (level-triggered, shared).
struct PciIntxRoute {
  uint8_t slot = 0;
  uint8_t pin = 0;
  uint32_t gsi = 0;
};

// Every slot 0-31 and pin INTA-INTD of bus 0 routed by pci_intx_gsi()
// (layout.h) onto GSIs 16-23: what a machine whose PCI devices use that
// swizzle puts in AcpiConfig::intx (empty slots cost nothing).
std::vector<PciIntxRoute> standard_intx_routes();

struct AcpiConfig {
  // CPUs get APIC IDs and ACPI processor UIDs 0..num_cpus-1 (1..254).
  int num_cpus = 1;

  // A PCI host bridge on segment 0 (PNP0A08), with MCFG.
  bool pci = false;
  uint64_t ecam_base = kPciEcamBase;
  uint8_t pci_bus_end = 0;  // buses 0..pci_bus_end (ECAM covers them)
  uint64_t mmio32_base = kPciMmio32Base;
  uint64_t mmio32_size = kPciMmio32Size;
  uint64_t mmio64_base = 0;  // e.g. pci_mmio64_base(ram_size)
  uint64_t mmio64_size = 0;  // 0: no 64-bit window
  uint16_t pci_io_base = kPciIoBase;
  uint32_t pci_io_size = kPciIoSize;
  std::vector<PciIntxRoute> intx;  // _PRT entries (and MP table entries)

  // ISA devices described in the DSDT.
  bool com1 = true;
  bool rtc = true;
};

// Writes all ACPI tables into guest memory and returns the RSDP address
// (kAcpiRsdpAddr), to hand to the guest where its boot protocol has a field
// for it (boot_params.acpi_rsdp_addr, hvm_start_info.rsdp_paddr); Linux also
// finds it by scanning. Throws Error when the config is invalid or the
// BIOS area is not guest memory.
uint64_t build_acpi(const AcpiConfig& cfg, const GuestMemory& mem);

}  // namespace insula::x86
