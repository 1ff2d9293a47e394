// build_acpi(): checks the config, builds every table and places them in
// the BIOS area; also the small root tables (RSDP, RSDT, XSDT) and MCFG.
#include "arch/x86/acpi.h"

#include "arch/x86/acpi_tables.h"
#include "base/error.h"

namespace insula::x86 {
namespace {

uint64_t align_up(uint64_t v, uint64_t a) { return (v + a - 1) & ~(a - 1); }

}  // namespace

std::vector<PciIntxRoute> standard_intx_routes() {
  std::vector<PciIntxRoute> routes;
  for (uint8_t slot = 0; slot < 32; ++slot)
    for (uint8_t pin = 0; pin < 4; ++pin) routes.push_back({slot, pin, pci_intx_gsi(slot, pin)});
  return routes;
}

void validate(const AcpiConfig& cfg) {
  // APIC IDs are 8 bits, 0xFF is broadcast, and the IOAPIC takes the ID
  // after the last CPU's.
  if (cfg.num_cpus < 1 || cfg.num_cpus > 254) throw error("ACPI tables: {} CPUs, the tables describe 1 to 254", cfg.num_cpus);
  if (!cfg.pci) return;
  uint64_t ecam_len = (uint64_t(cfg.pci_bus_end) + 1) * kPciEcamBusSize;
  if (cfg.ecam_base % kPciEcamBusSize || cfg.ecam_base + ecam_len < cfg.ecam_base)
    throw error("ACPI tables: ECAM base {:#x} must be 1 MiB aligned", cfg.ecam_base);
  if (cfg.mmio32_size == 0 || cfg.mmio32_base + cfg.mmio32_size > (1ull << 32))
    throw error("ACPI tables: 32-bit PCI window {:#x}+{:#x} must be non-empty and below 4 GiB", cfg.mmio32_base,
                cfg.mmio32_size);
  if (cfg.mmio64_size && cfg.mmio64_base + cfg.mmio64_size < cfg.mmio64_base)
    throw error("ACPI tables: 64-bit PCI window {:#x}+{:#x} wraps", cfg.mmio64_base, cfg.mmio64_size);
  if (cfg.pci_io_size == 0 || cfg.pci_io_base + cfg.pci_io_size > 0x10000)
    throw error("ACPI tables: PCI I/O window {:#x}+{:#x} must be non-empty and below 0x10000", cfg.pci_io_base,
                cfg.pci_io_size);
  if (cfg.intx.size() > 255) throw error("ACPI tables: {} INTx routes, at most 255", cfg.intx.size());
  for (const auto& r : cfg.intx) {
    if (r.slot >= 32 || r.pin >= 4 || r.gsi >= uint32_t(kIoApicPins))
      throw error("ACPI tables: INTx route slot {} pin {} -> GSI {} is out of range (slot < 32, pin < 4, GSI < {})",
                  r.slot, r.pin, r.gsi, kIoApicPins);
  }
}

TableBytes build_mcfg(const AcpiConfig& cfg) {
  SdtWriter w("MCFG", 1);
  w.zeros(8);
  w.u64(cfg.ecam_base);  // ECAM of bus 0 (bus N at base + N MiB)
  w.u16(0);              // PCI segment group
  w.u8(0);               // start bus
  w.u8(cfg.pci_bus_end);
  w.zeros(4);
  return w.finish();
}

TableBytes build_rsdt(const std::vector<uint64_t>& tables) {
  SdtWriter w("RSDT", 1);
  for (uint64_t t : tables) w.u32(uint32_t(t));
  return w.finish();
}

TableBytes build_xsdt(const std::vector<uint64_t>& tables) {
  SdtWriter w("XSDT", 1);
  for (uint64_t t : tables) w.u64(t);
  return w.finish();
}

TableBytes build_rsdp(uint64_t rsdt_addr, uint64_t xsdt_addr) {
  ByteWriter w;
  w.chars("RSD PTR ", 8);
  w.u8(0);  // checksum of the first 20 bytes
  w.chars(kAcpiOemId, 6);
  w.u8(2);  // revision: ACPI 2.0+, has the XSDT
  w.u32(uint32_t(rsdt_addr));
  w.u32(36);  // length
  w.u64(xsdt_addr);
  w.u8(0);  // extended checksum of all 36 bytes
  w.zeros(3);
  TableBytes t = std::move(w.data());
  t[8] = uint8_t(-acpi_sum(t.data(), 20));
  t[32] = uint8_t(-acpi_sum(t.data(), 36));
  return t;
}

uint64_t build_acpi(const AcpiConfig& cfg, const GuestMemory& mem) {
  validate(cfg);
  if (!mem.contains(kAcpiRsdpAddr, kAcpiTablesEnd - kAcpiRsdpAddr))
    throw error("ACPI tables: guest memory does not cover {:#x}-{:#x}; the low RAM region must include the BIOS area",
                kAcpiRsdpAddr, kAcpiTablesEnd - 1);

  // Stale bytes from an earlier boot must not look like tables.
  std::vector<uint8_t> zeros(kAcpiTablesEnd - kAcpiRsdpAddr);
  mem.write(kAcpiRsdpAddr, zeros.data(), zeros.size());

  uint64_t cursor = kAcpiRsdpAddr + 36;
  auto place = [&](const TableBytes& t, uint64_t align) {
    uint64_t at = align_up(cursor, align);
    if (at + t.size() > kAcpiTablesEnd)
      throw error("ACPI tables: {} bytes do not fit below {:#x} (too many CPUs or INTx routes?)",
                  at + t.size() - kAcpiRsdpAddr, kAcpiTablesEnd);
    mem.write(at, t.data(), t.size());
    cursor = at + t.size();
    return at;
  };

  uint64_t facs = place(build_facs(), 64);
  uint64_t dsdt = place(build_dsdt(cfg), 16);
  std::vector<uint64_t> tables;
  tables.push_back(place(build_fadt(cfg, facs, dsdt), 16));
  tables.push_back(place(build_madt(cfg), 16));
  if (cfg.pci) tables.push_back(place(build_mcfg(cfg), 16));
  uint64_t xsdt = place(build_xsdt(tables), 16);
  uint64_t rsdt = place(build_rsdt(tables), 16);
  TableBytes rsdp = build_rsdp(rsdt, xsdt);
  mem.write(kAcpiRsdpAddr, rsdp.data(), rsdp.size());
  return kAcpiRsdpAddr;
}

}  // namespace insula::x86
