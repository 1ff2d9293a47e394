// The MP table as Linux's smp_scan_config/MP parser reads it.
#include "arch/x86/mptable.h"

#include <gtest/gtest.h>

#include <cstring>
#include <map>

#include "arch/x86/acpi_table.h"
#include "base/error.h"
#include "fake_memory.h"

namespace insula::x86 {
namespace {

using test::FakeMemory;

// Linux scans 0xF0000-0xFFFFF in 16-byte steps for "_MP_" with length 1
// and a zero checksum.
uint64_t scan_for_mp(const FakeMemory& m) {
  for (uint64_t a = 0xF0000; a < 0x100000; a += 16) {
    if (std::memcmp(m.at(a), "_MP_", 4) == 0 && m.at(a)[8] == 1 && acpi_sum(m.at(a), 16) == 0) return a;
  }
  return 0;
}

struct Parsed {
  std::vector<std::pair<int, int>> cpus;   // apic id, flags
  std::map<int, std::string> buses;         // id -> type
  int ioapic_id = -1;
  std::vector<std::array<int, 5>> irqs;    // type, flags, bus, bus irq, pin
  std::vector<std::array<int, 3>> lints;   // type, apic, lint
};

Parsed parse(const FakeMemory& m) {
  Parsed p;
  uint64_t fp = scan_for_mp(m);
  EXPECT_NE(fp, 0u);
  uint64_t c = m.u32(fp + 4);
  EXPECT_EQ(std::memcmp(m.at(c), "PCMP", 4), 0);
  uint16_t len = m.u16(c + 4);
  EXPECT_EQ(acpi_sum(m.at(c), len), 0);
  EXPECT_EQ(m.at(c)[6], 4);  // spec 1.4
  EXPECT_EQ(m.u32(c + 36), kLapicAddr);
  uint16_t count = m.u16(c + 34);
  uint64_t e = c + 44;
  for (int i = 0; i < count; ++i) {
    const uint8_t* b = m.at(e);
    switch (b[0]) {
      case 0:
        p.cpus.push_back({b[1], b[3]});
        e += 20;
        break;
      case 1:
        p.buses[b[1]] = std::string(reinterpret_cast<const char*>(b + 2), 6);
        e += 8;
        break;
      case 2:
        p.ioapic_id = b[1];
        EXPECT_EQ(b[3], 1);
        EXPECT_EQ(m.u32(e + 4), kIoApicAddr);
        e += 8;
        break;
      case 3:
        p.irqs.push_back({b[1], m.u16(e + 2), b[4], b[5], b[7]});
        EXPECT_EQ(b[6], p.ioapic_id);
        e += 8;
        break;
      case 4:
        p.lints.push_back({b[1], b[6], b[7]});
        e += 8;
        break;
      default:
        ADD_FAILURE() << "unknown entry type " << int(b[0]);
        return p;
    }
  }
  EXPECT_EQ(e, c + len);  // entry count and length agree
  return p;
}

TEST(MpTable, FoundByScanAndChecksummed) {
  FakeMemory m;
  EXPECT_EQ(build_mptable(2, m.mem()), kMpTableAddr);
  EXPECT_EQ(scan_for_mp(m), kMpTableAddr);
  parse(m);
}

TEST(MpTable, OneProcessorPerCpuFirstIsBsp) {
  FakeMemory m;
  build_mptable(8, m.mem());
  Parsed p = parse(m);
  ASSERT_EQ(p.cpus.size(), 8u);
  for (int i = 0; i < 8; ++i) {
    EXPECT_EQ(p.cpus[i].first, i);
    EXPECT_EQ(p.cpus[i].second, i == 0 ? 3 : 1);  // enabled (+BSP)
  }
  EXPECT_EQ(p.ioapic_id, 8);
}

TEST(MpTable, IsaIrqsWithIrq0OnPin2) {
  FakeMemory m;
  build_mptable(1, m.mem());
  Parsed p = parse(m);
  ASSERT_EQ(p.buses.size(), 1u);
  EXPECT_EQ(p.buses[0], "ISA   ");
  std::map<int, int> pin;
  for (auto& i : p.irqs) {
    EXPECT_EQ(i[0], 0);  // INT
    EXPECT_EQ(i[2], 0);  // ISA bus
    pin[i[3]] = i[4];
  }
  EXPECT_EQ(pin.size(), 15u);
  EXPECT_EQ(pin[0], 2);
  EXPECT_EQ(pin.count(2), 0u);
  for (int irq = 3; irq < 16; ++irq) EXPECT_EQ(pin[irq], irq);
  ASSERT_EQ(p.lints.size(), 2u);
  EXPECT_EQ(p.lints[0], (std::array<int, 3>{3, 0xFF, 0}));  // ExtINT -> LINT0
  EXPECT_EQ(p.lints[1], (std::array<int, 3>{1, 0xFF, 1}));  // NMI -> LINT1
}

TEST(MpTable, PciBusAndIntxRoutes) {
  FakeMemory m;
  AcpiConfig cfg;
  cfg.num_cpus = 2;
  cfg.pci = true;
  cfg.intx = {{3, 0, 19}, {3, 1, 20}};
  build_mptable(cfg, m.mem());
  Parsed p = parse(m);
  EXPECT_EQ(p.buses[0], "PCI   ");
  EXPECT_EQ(p.buses[1], "ISA   ");
  int pci = 0;
  for (auto& i : p.irqs) {
    if (i[2] != 0) continue;
    ++pci;
    EXPECT_EQ(i[1], 0x0F);  // level, active-low
    EXPECT_EQ(i[3] >> 2, 3);
    EXPECT_EQ(i[4], 19 + (i[3] & 3));
  }
  EXPECT_EQ(pci, 2);
}

TEST(MpTable, RejectsBadConfig) {
  FakeMemory m;
  EXPECT_THROW(build_mptable(0, m.mem()), Error);
  EXPECT_THROW(build_mptable(255, m.mem()), Error);
  FakeMemory small(0xF0000);
  EXPECT_THROW(build_mptable(1, small.mem()), Error);
  FakeMemory big;
  EXPECT_NO_THROW(build_mptable(254, big.mem()));
  parse(big);
}

}  // namespace
}  // namespace insula::x86
