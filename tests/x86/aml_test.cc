// AML encoding checked against byte sequences worked out by hand from the
// ACPI spec (§20.2 grammar, §6.4 resource descriptors).
#include "arch/x86/aml.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>

#include "arch/x86/acpi_tables.h"
#include "base/error.h"

namespace insula::x86 {
namespace {

using aml::Bytes;

bool contains(const Bytes& hay, const Bytes& needle) {
  return std::search(hay.begin(), hay.end(), needle.begin(), needle.end()) != hay.end();
}

TEST(Aml, PkgLengthUsesOneToFourBytes) {
  EXPECT_EQ(aml::pkg_length(0), (Bytes{0x01}));
  EXPECT_EQ(aml::pkg_length(62), (Bytes{0x3F}));
  // 63 + 2 = 65 = 0x41: low nibble in the lead byte, the rest after it.
  EXPECT_EQ(aml::pkg_length(63), (Bytes{0x41, 0x04}));
  EXPECT_EQ(aml::pkg_length(4093), (Bytes{0x4F, 0xFF}));
  EXPECT_EQ(aml::pkg_length(4094), (Bytes{0x81, 0x00, 0x01}));  // 4097 = 0x1001
  EXPECT_EQ(aml::pkg_length(0x100000), (Bytes{0xC4, 0x00, 0x00, 0x01}));  // 0x100004
}

TEST(Aml, NameStrings) {
  EXPECT_EQ(aml::name_string("_S5"), (Bytes{'_', 'S', '5', '_'}));
  EXPECT_EQ(aml::name_string("\\_SB"), (Bytes{'\\', '_', 'S', 'B', '_'}));
  EXPECT_EQ(aml::name_string("\\_SB.PCI0"), (Bytes{'\\', 0x2E, '_', 'S', 'B', '_', 'P', 'C', 'I', '0'}));
  EXPECT_EQ(aml::name_string("A.B.C"), (Bytes{0x2F, 3, 'A', '_', '_', '_', 'B', '_', '_', '_', 'C', '_', '_', '_'}));
  EXPECT_EQ(aml::name_string("^FOO"), (Bytes{'^', 'F', 'O', 'O', '_'}));
  EXPECT_THROW(aml::name_string("1ABC"), Error);
  EXPECT_THROW(aml::name_string("ABCDE"), Error);
  EXPECT_THROW(aml::name_string("ab"), Error);
  EXPECT_THROW(aml::name_string("\\_SB..X"), Error);
}

TEST(Aml, Integers) {
  EXPECT_EQ(aml::integer(0), (Bytes{0x00}));
  EXPECT_EQ(aml::integer(1), (Bytes{0x01}));
  EXPECT_EQ(aml::integer(5), (Bytes{0x0A, 0x05}));
  EXPECT_EQ(aml::integer(0x3F8), (Bytes{0x0B, 0xF8, 0x03}));
  EXPECT_EQ(aml::integer(0x12345678), (Bytes{0x0C, 0x78, 0x56, 0x34, 0x12}));
  EXPECT_EQ(aml::integer(1ull << 32), (Bytes{0x0E, 0, 0, 0, 0, 1, 0, 0, 0}));
}

TEST(Aml, StringsAndEisaIds) {
  EXPECT_EQ(aml::string("AB"), (Bytes{0x0D, 'A', 'B', 0}));
  // "PNP" -> 10000 01110 10000 = 0x41D0, then product 0x0A03.
  EXPECT_EQ(aml::eisa_id("PNP0A03"), (Bytes{0x0C, 0x41, 0xD0, 0x0A, 0x03}));
  EXPECT_EQ(aml::eisa_id("PNP0501"), (Bytes{0x0C, 0x41, 0xD0, 0x05, 0x01}));
  EXPECT_THROW(aml::eisa_id("PNP0A0"), Error);
  EXPECT_THROW(aml::eisa_id("pnp0A03"), Error);
  EXPECT_THROW(aml::eisa_id("PNP0A0G"), Error);
}

TEST(Aml, ResourceTemplateForAnIsaSerialPort) {
  Bytes crs = aml::ResourceTemplate().io(0x3F8, 0x3F8, 1, 8).irq(4).build();
  // Buffer(13) { IO descriptor (8), IRQNoFlags (3), end tag (2) }
  EXPECT_EQ(crs, (Bytes{0x11, 0x10, 0x0A, 0x0D, 0x47, 0x01, 0xF8, 0x03, 0xF8, 0x03, 0x01, 0x08, 0x22, 0x10, 0x00,
                        0x79, 0x00}));
}

TEST(Aml, AddressSpaceDescriptors) {
  Bytes bus = aml::ResourceTemplate().bus_numbers(0, 1).build();
  // WordBusNumber: tag, length 13, type 2 (bus), MinFixed|MaxFixed, ...
  EXPECT_TRUE(contains(bus, {0x88, 0x0D, 0x00, 0x02, 0x0C, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
                             0x01, 0x00}));
  Bytes mem = aml::ResourceTemplate().mmio32_window(0xC0000000, 0x20000000).build();
  EXPECT_TRUE(contains(mem, {0x87, 0x17, 0x00, 0x00, 0x0C, 0x01, 0, 0, 0, 0, 0x00, 0x00, 0x00, 0xC0, 0xFF, 0xFF,
                             0xFF, 0xDF, 0, 0, 0, 0, 0x00, 0x00, 0x00, 0x20}));
  Bytes q = aml::ResourceTemplate().mmio64_window(1ull << 33, 1ull << 30).build();
  EXPECT_TRUE(contains(q, {0x8A, 0x2B, 0x00, 0x00, 0x0C, 0x01}));
  EXPECT_THROW(aml::ResourceTemplate().io_window(0xF000, 0x2000), Error);  // past 0xFFFF
  EXPECT_THROW(aml::ResourceTemplate().mmio32_window(0xF0000000, 0x20000000), Error);
  EXPECT_THROW(aml::ResourceTemplate().bus_numbers(0, 0), Error);
}

TEST(Aml, DeviceAndScope) {
  Bytes d = aml::device("COM1", {aml::name("_UID", aml::integer(1))});
  EXPECT_EQ(d, (Bytes{0x5B, 0x82, 0x0B, 'C', 'O', 'M', '1', 0x08, '_', 'U', 'I', 'D', 0x01}));
  Bytes s = aml::scope("\\_SB", {});
  EXPECT_EQ(s, (Bytes{0x10, 0x06, '\\', '_', 'S', 'B', '_'}));
}

TEST(Dsdt, S5PackageSaysPowerOffSleepType) {
  Bytes dsdt = build_dsdt(AcpiConfig{});
  // Name(\_S5, Package(4) {5, 5, 0, 0})
  EXPECT_TRUE(contains(dsdt, {0x08, '\\', '_', 'S', '5', '_', 0x12, 0x08, 0x04, 0x0A, kAcpiSlpTypS5, 0x0A,
                              kAcpiSlpTypS5, 0x00, 0x00}));
}

TEST(Dsdt, PciHostBridgeOnlyWithPci) {
  Bytes pnp0a08 = aml::eisa_id("PNP0A08");
  EXPECT_FALSE(contains(build_dsdt(AcpiConfig{}), pnp0a08));
  AcpiConfig cfg;
  cfg.pci = true;
  cfg.intx = {{1, 0, 17}};
  Bytes dsdt = build_dsdt(cfg);
  EXPECT_TRUE(contains(dsdt, pnp0a08));
  EXPECT_TRUE(contains(dsdt, aml::eisa_id("PNP0C02")));
  // _PRT: Package { Package(4) { 0x0001FFFF, Zero, Zero, 17 } }
  EXPECT_TRUE(contains(dsdt, {0x08, '_', 'P', 'R', 'T', 0x12, 0x0E, 0x01, 0x12, 0x0B, 0x04, 0x0C, 0xFF, 0xFF, 0x01,
                              0x00, 0x00, 0x00, 0x0A, 17}));
}

}  // namespace
}  // namespace insula::x86
