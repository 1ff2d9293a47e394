// ACPI tables as a guest finds them: RSDP by scanning the BIOS area, then
// XSDT/RSDT, FADT, FACS, DSDT, MADT and MCFG, every one checksummed.
#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <string>

#include "arch/x86/acpi.h"
#include "arch/x86/acpi_table.h"
#include "base/error.h"
#include "fake_memory.h"

namespace insula::x86 {
namespace {

using test::FakeMemory;

// Linux's acpi_find_root_pointer scan of 0xE0000-0xFFFFF: 16-byte steps,
// signature, checksum of 20 bytes, extended checksum of `length` bytes.
uint64_t scan_for_rsdp(const FakeMemory& m) {
  for (uint64_t a = 0xE0000; a < 0x100000; a += 16) {
    if (std::memcmp(m.at(a), "RSD PTR ", 8) != 0) continue;
    if (acpi_sum(m.at(a), 20) != 0) continue;
    if (m.at(a)[15] >= 2 && acpi_sum(m.at(a), m.u32(a + 20)) != 0) continue;
    return a;
  }
  return 0;
}

std::string sig(const FakeMemory& m, uint64_t a) { return std::string(reinterpret_cast<const char*>(m.at(a)), 4); }

// Tables listed in the XSDT, by signature; also checks each checksum.
std::map<std::string, uint64_t> tables(const FakeMemory& m) {
  uint64_t rsdp = scan_for_rsdp(m);
  EXPECT_NE(rsdp, 0u);
  uint64_t xsdt = m.u64(rsdp + 24);
  EXPECT_EQ(sig(m, xsdt), "XSDT");
  uint32_t len = m.u32(xsdt + 4);
  EXPECT_EQ((len - kAcpiHeaderSize) % 8, 0u);
  std::map<std::string, uint64_t> out;
  for (uint32_t off = kAcpiHeaderSize; off + 8 <= len; off += 8) {
    uint64_t t = m.u64(xsdt + off);
    EXPECT_TRUE(t >= kBiosAreaStart && t < kAcpiTablesEnd) << std::hex << t;
    EXPECT_EQ(acpi_sum(m.at(t), m.u32(t + 4)), 0) << sig(m, t);
    out[sig(m, t)] = t;
  }
  return out;
}

AcpiConfig pci_config(int cpus) {
  AcpiConfig cfg;
  cfg.num_cpus = cpus;
  cfg.pci = true;
  cfg.mmio64_base = pci_mmio64_base(8ull << 30);
  cfg.mmio64_size = kPciMmio64Size;
  cfg.intx = standard_intx_routes();
  return cfg;
}

TEST(Acpi, RsdpFoundByBiosAreaScan) {
  FakeMemory m;
  uint64_t rsdp = build_acpi(AcpiConfig{}, m.mem());
  EXPECT_EQ(rsdp, kAcpiRsdpAddr);
  EXPECT_EQ(scan_for_rsdp(m), rsdp);
  EXPECT_EQ(m.at(rsdp)[15], 2);        // revision 2: has an XSDT
  EXPECT_EQ(m.u32(rsdp + 20), 36u);    // length
  EXPECT_EQ(acpi_sum(m.at(rsdp), 36), 0);
}

TEST(Acpi, EveryTableChecksumsToZero) {
  for (bool pci : {false, true}) {
    FakeMemory m;
    AcpiConfig cfg = pci ? pci_config(4) : AcpiConfig{};
    build_acpi(cfg, m.mem());
    auto t = tables(m);
    EXPECT_EQ(t.size(), pci ? 3u : 2u);
    ASSERT_TRUE(t.count("FACP") && t.count("APIC"));
    EXPECT_EQ(t.count("MCFG"), pci ? 1u : 0u);
    uint64_t dsdt = m.u64(t["FACP"] + 140);
    EXPECT_EQ(sig(m, dsdt), "DSDT");
    EXPECT_EQ(acpi_sum(m.at(dsdt), m.u32(dsdt + 4)), 0);
    uint64_t rsdt = m.u32(kAcpiRsdpAddr + 16);
    EXPECT_EQ(sig(m, rsdt), "RSDT");
    EXPECT_EQ(acpi_sum(m.at(rsdt), m.u32(rsdt + 4)), 0);
  }
}

TEST(Acpi, RsdtListsTheSameTablesAsXsdt) {
  FakeMemory m;
  build_acpi(pci_config(2), m.mem());
  uint64_t xsdt = m.u64(kAcpiRsdpAddr + 24), rsdt = m.u32(kAcpiRsdpAddr + 16);
  uint32_t n = (m.u32(xsdt + 4) - 36) / 8;
  ASSERT_EQ((m.u32(rsdt + 4) - 36) / 4, n);
  for (uint32_t i = 0; i < n; ++i) EXPECT_EQ(m.u32(rsdt + 36 + 4 * i), m.u64(xsdt + 36 + 8 * i));
}

TEST(Acpi, MadtHasOneEnabledLapicPerCpuAndTheIoApic) {
  for (int cpus : {1, 4, 254}) {
    FakeMemory m;
    AcpiConfig cfg;
    cfg.num_cpus = cpus;
    build_acpi(cfg, m.mem());
    uint64_t madt = tables(m)["APIC"];
    EXPECT_EQ(m.u32(madt + 36), kLapicAddr);
    EXPECT_EQ(m.u32(madt + 40) & 1, 1u);  // PCAT_COMPAT
    std::vector<int> apic_ids;
    int ioapics = 0, nmis = 0;
    std::map<int, std::pair<uint32_t, uint16_t>> overrides;  // irq -> gsi, flags
    uint32_t len = m.u32(madt + 4);
    for (uint64_t e = madt + 44; e < madt + len;) {
      uint8_t type = m.at(e)[0], elen = m.at(e)[1];
      ASSERT_GE(elen, 2);
      if (type == 0) {
        EXPECT_EQ(elen, 8);
        EXPECT_EQ(m.at(e)[2], m.at(e)[3]);  // UID == APIC ID
        EXPECT_EQ(m.u32(e + 4) & 1, 1u);    // enabled
        apic_ids.push_back(m.at(e)[3]);
      } else if (type == 1) {
        EXPECT_EQ(elen, 12);
        EXPECT_EQ(m.at(e)[2], cpus);  // IOAPIC ID after the CPUs'
        EXPECT_EQ(m.u32(e + 4), kIoApicAddr);
        EXPECT_EQ(m.u32(e + 8), 0u);
        ++ioapics;
      } else if (type == 2) {
        EXPECT_EQ(elen, 10);
        overrides[m.at(e)[3]] = {m.u32(e + 4), m.u16(e + 8)};
      } else if (type == 4) {
        EXPECT_EQ(elen, 6);
        EXPECT_EQ(m.at(e)[5], 1);  // LINT1
        ++nmis;
      }
      e += elen;
    }
    ASSERT_EQ(int(apic_ids.size()), cpus);
    for (int i = 0; i < cpus; ++i) EXPECT_EQ(apic_ids[i], i);
    EXPECT_EQ(ioapics, 1);
    EXPECT_EQ(nmis, 1);
    EXPECT_EQ(overrides[0], std::make_pair(2u, uint16_t(0)));
    EXPECT_EQ(overrides[9], std::make_pair(9u, uint16_t(0x0D)));  // level, active-high
  }
}

TEST(Acpi, FadtPointsToDsdtFacsAndPmBlocks) {
  FakeMemory m;
  build_acpi(AcpiConfig{}, m.mem());
  uint64_t f = tables(m)["FACP"];
  EXPECT_EQ(m.u32(f + 4), 276u);
  EXPECT_EQ(m.at(f)[8], 6);  // revision
  uint64_t dsdt = m.u32(f + 40);
  EXPECT_EQ(m.u64(f + 140), dsdt);
  EXPECT_EQ(sig(m, dsdt), "DSDT");
  uint64_t facs = m.u32(f + 36);
  EXPECT_EQ(m.u64(f + 132), 0u);  // X_FIRMWARE_CTRL: only one FACS pointer
  EXPECT_EQ(sig(m, facs), "FACS");
  EXPECT_EQ(facs % 64, 0u);
  EXPECT_EQ(m.u32(facs + 4), 64u);
  EXPECT_EQ(m.u16(f + 46), kAcpiSciIrq);
  EXPECT_EQ(m.u32(f + 48), 0u);  // no SMI_CMD: always ACPI mode
  EXPECT_EQ(m.u32(f + 56), kAcpiPm1EvtPort);
  EXPECT_EQ(m.u32(f + 64), kAcpiPm1CntPort);
  EXPECT_EQ(m.u32(f + 76), kAcpiPmTmrPort);
  EXPECT_EQ(m.at(f)[88], 4);
  EXPECT_EQ(m.at(f)[89], 2);
  EXPECT_EQ(m.at(f)[91], 4);
  uint32_t flags = m.u32(f + 112);
  EXPECT_TRUE(flags & (1 << 8));    // TMR_VAL_EXT: 32-bit timer
  EXPECT_TRUE(flags & (1 << 10));   // RESET_REG_SUP
  EXPECT_FALSE(flags & (1 << 20));  // not HW_REDUCED_ACPI
  EXPECT_FALSE(flags & (1 << 4));   // fixed-feature power button present
  uint16_t boot = m.u16(f + 109);
  EXPECT_TRUE(boot & 2);  // 8042
  EXPECT_TRUE(boot & 4);  // no VGA
  // RESET_REG: system I/O, 8 bits, port and value from layout.h.
  EXPECT_EQ(m.at(f)[116], 1);
  EXPECT_EQ(m.at(f)[117], 8);
  EXPECT_EQ(m.u64(f + 120), kAcpiResetPort);
  EXPECT_EQ(m.at(f)[128], kAcpiResetValue);
  // X_ blocks agree with the 32-bit ones.
  struct {
    size_t off;
    uint16_t port;
    uint8_t len;
  } x[] = {{148, kAcpiPm1EvtPort, 4}, {172, kAcpiPm1CntPort, 2}, {208, kAcpiPmTmrPort, 4}};
  for (auto& g : x) {
    EXPECT_EQ(m.at(f + g.off)[0], 1) << g.off;  // system I/O
    EXPECT_EQ(m.at(f + g.off)[1], g.len * 8) << g.off;
    EXPECT_EQ(m.u64(f + g.off + 4), g.port) << g.off;
  }
}

TEST(Acpi, McfgDescribesEcamOfBus0) {
  FakeMemory m;
  AcpiConfig cfg = pci_config(1);
  cfg.pci_bus_end = 3;
  build_acpi(cfg, m.mem());
  uint64_t t = tables(m)["MCFG"];
  EXPECT_EQ(m.u32(t + 4), 60u);
  EXPECT_EQ(m.u64(t + 44), kPciEcamBase);
  EXPECT_EQ(m.u16(t + 52), 0);  // segment
  EXPECT_EQ(m.at(t)[54], 0);    // start bus
  EXPECT_EQ(m.at(t)[55], 3);    // end bus
}

TEST(Acpi, RejectsConfigsItCannotDescribe) {
  FakeMemory m;
  AcpiConfig cfg;
  cfg.num_cpus = 0;
  EXPECT_THROW(build_acpi(cfg, m.mem()), Error);
  cfg.num_cpus = 255;
  EXPECT_THROW(build_acpi(cfg, m.mem()), Error);
  cfg = pci_config(1);
  cfg.intx.push_back({32, 0, 16});
  EXPECT_THROW(build_acpi(cfg, m.mem()), Error);
  cfg = pci_config(1);
  cfg.intx.push_back({1, 4, 16});
  EXPECT_THROW(build_acpi(cfg, m.mem()), Error);
  cfg = pci_config(1);
  cfg.mmio32_size = 0;
  EXPECT_THROW(build_acpi(cfg, m.mem()), Error);
  cfg = pci_config(1);
  cfg.ecam_base += 4096;
  EXPECT_THROW(build_acpi(cfg, m.mem()), Error);
  // Guest memory that does not reach the BIOS area.
  FakeMemory small(0xA0000);
  EXPECT_THROW(build_acpi(AcpiConfig{}, small.mem()), Error);
}

TEST(Acpi, StandardIntxRoutesCoverEverySlotAndPin) {
  auto routes = standard_intx_routes();
  ASSERT_EQ(routes.size(), 128u);
  for (const auto& r : routes) {
    EXPECT_GE(r.gsi, 16u);
    EXPECT_LT(r.gsi, 24u);
    EXPECT_EQ(r.gsi, 16u + (r.slot + r.pin) % 8u);
  }
  // Neighbouring slots' INTA land on different GSIs.
  EXPECT_NE(routes[0].gsi, routes[4].gsi);
}

TEST(Acpi, LargestConfigFitsTheArea) {
  FakeMemory m;
  build_acpi(pci_config(254), m.mem());
  EXPECT_EQ(tables(m).size(), 3u);
}

}  // namespace
}  // namespace insula::x86
