// The individual ACPI table builders behind build_acpi(), exposed so tests
// (and tools) can look at one table at a time. Each returns the complete,
// checksummed table.
#pragma once

#include <cstdint>

#include "arch/x86/acpi.h"
#include "arch/x86/acpi_table.h"

namespace insula::x86 {

// Throws Error when cfg cannot be described (CPU count, windows, routes).
void validate(const AcpiConfig& cfg);

// The IOAPIC's ID in MADT and MP table: after the CPUs' APIC IDs.
inline uint8_t ioapic_id(const AcpiConfig& cfg) { return uint8_t(cfg.num_cpus); }

TableBytes build_dsdt(const AcpiConfig& cfg);
TableBytes build_fadt(const AcpiConfig& cfg, uint64_t facs_addr, uint64_t dsdt_addr);
TableBytes build_facs();
TableBytes build_madt(const AcpiConfig& cfg);
TableBytes build_mcfg(const AcpiConfig& cfg);
// RSDT (32-bit entries) and XSDT (64-bit entries) listing `tables`.
TableBytes build_rsdt(const std::vector<uint64_t>& tables);
TableBytes build_xsdt(const std::vector<uint64_t>& tables);
// RSDP revision 2 (36 bytes) pointing at both.
TableBytes build_rsdp(uint64_t rsdt_addr, uint64_t xsdt_addr);

}  // namespace insula::x86
