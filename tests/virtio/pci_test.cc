// PCI config space, BAR sizing and decode, bus config mechanisms, MSI-X.
#include <gtest/gtest.h>

#include <cstring>

#include "base/error.h"
#include "devices/pci/msix.h"
#include "devices/pci/pci_bus.h"
#include "fakes.h"

namespace insula::pci {
namespace {

class TestFunction : public PciFunction {
 public:
  TestFunction() : PciFunction(PciIds{0x1af4, 0x1041, 1, 0x020000, 0x1af4, 0x40}, "test") {}
  void bar_read(int bar, uint64_t offset, std::span<uint8_t> data) override {
    last_bar = bar;
    last_offset = offset;
    std::fill(data.begin(), data.end(), 0x5a);
  }
  void bar_write(int, uint64_t, std::span<const uint8_t>) override {}
  int last_bar = -1;
  uint64_t last_offset = 0;
};

uint32_t rd32(PciFunction& f, uint32_t off) {
  uint32_t v;
  f.config_read(off, {reinterpret_cast<uint8_t*>(&v), 4});
  return v;
}
void wr32(PciFunction& f, uint32_t off, uint32_t v) { f.config_write(off, {reinterpret_cast<uint8_t*>(&v), 4}); }
void wr16(PciFunction& f, uint32_t off, uint16_t v) { f.config_write(off, {reinterpret_cast<uint8_t*>(&v), 2}); }

struct Change {
  int bar;
  std::optional<BarMapping> old_m, new_m;
};
class RecordingListener : public PciBarListener {
 public:
  void bar_changed(PciFunction&, int bar, std::optional<BarMapping> o, std::optional<BarMapping> n) override {
    changes.push_back({bar, o, n});
  }
  std::vector<Change> changes;
};

TEST(PciFunction, HeaderIdsAndReadOnlyFields) {
  TestFunction f;
  EXPECT_EQ(rd32(f, 0), 0x10411af4u);
  EXPECT_EQ(rd32(f, 8), 0x02000001u);
  wr32(f, 0, 0xffffffff);
  EXPECT_EQ(rd32(f, 0), 0x10411af4u);
  uint8_t beyond[4];
  f.config_read(kConfigSize - 2, beyond);
  EXPECT_EQ(beyond[2], 0xff);
}

TEST(PciFunction, BarSizingAndDecode) {
  TestFunction f;
  RecordingListener l;
  f.set_bar_listener(&l);
  f.add_memory_bar(0, 0x4000, true);
  f.add_memory_bar(2, 0x1000, false);
  wr32(f, 0x10, 0xffffffff);
  wr32(f, 0x14, 0xffffffff);
  EXPECT_EQ(rd32(f, 0x10), 0xffffc004u);  // size 16 KiB, 64-bit type
  EXPECT_EQ(rd32(f, 0x14), 0xffffffffu);
  wr32(f, 0x18, 0xffffffff);
  EXPECT_EQ(rd32(f, 0x18), 0xfffff000u);
  wr32(f, 0x1c, 0xffffffff);  // unused BAR reads 0
  EXPECT_EQ(rd32(f, 0x1c), 0u);
  EXPECT_TRUE(l.changes.empty());  // memory decode is off
  wr32(f, 0x10, 0xe0000000);
  wr32(f, 0x14, 0x1);
  wr32(f, 0x18, 0xd0001000);
  EXPECT_FALSE(f.bar_mapping(0));
  wr16(f, kCommand, kCommandMemory);
  ASSERT_EQ(l.changes.size(), 2u);
  EXPECT_EQ(l.changes[0].bar, 0);
  EXPECT_FALSE(l.changes[0].old_m);
  EXPECT_EQ(l.changes[0].new_m->address, 0x1e0000000u);
  EXPECT_EQ(l.changes[0].new_m->size, 0x4000u);
  EXPECT_EQ(l.changes[1].new_m->address, 0xd0001000u);
  // Moving a decoded BAR reports old and new placement.
  wr32(f, 0x18, 0xd0002000);
  ASSERT_EQ(l.changes.size(), 3u);
  EXPECT_EQ(l.changes[2].old_m->address, 0xd0001000u);
  EXPECT_EQ(l.changes[2].new_m->address, 0xd0002000u);
  // Sizing with decode on unmaps instead of mapping at the probe pattern.
  wr32(f, 0x18, 0xffffffff);
  ASSERT_EQ(l.changes.size(), 4u);
  EXPECT_FALSE(l.changes[3].new_m);
  wr16(f, kCommand, 0);
  ASSERT_EQ(l.changes.size(), 5u);
  EXPECT_EQ(l.changes[4].bar, 0);
  EXPECT_FALSE(l.changes[4].new_m);
}

TEST(PciFunction, RejectsBadBars) {
  TestFunction f;
  EXPECT_THROW(f.add_memory_bar(0, 0x3000, false), Error);
  EXPECT_THROW(f.add_memory_bar(5, 0x1000, true), Error);
  f.add_memory_bar(0, 0x1000, true);
  EXPECT_THROW(f.add_memory_bar(1, 0x1000, false), Error);
}

TEST(PciFunction, CapabilityList) {
  TestFunction f;
  uint8_t body1[2] = {1, 2}, body2[6] = {3, 4, 5, 6, 7, 8};
  uint16_t c1 = f.add_capability(0x09, body1);
  uint16_t c2 = f.add_capability(0x11, body2);
  EXPECT_NE(rd32(f, 4) >> 16 & kStatusCapList, 0u);
  EXPECT_EQ(rd32(f, kCapPointer) & 0xff, c1);
  EXPECT_EQ(rd32(f, c1) & 0xffff, uint32_t(c2) << 8 | 0x09);
  EXPECT_EQ(rd32(f, c2) & 0xffff, 0x11u);
  EXPECT_EQ(c2 % 4, 0);
}

TEST(PciBus, Type1AndEcamReachTheSameFunction) {
  PciBus bus;
  auto f = std::make_shared<TestFunction>();
  int dev = bus.add(f);
  EXPECT_EQ(dev, 1);
  auto io = bus.config_io();
  auto ecam = bus.ecam();
  auto addr = [&](int d, uint32_t reg) {
    uint32_t a = 0x80000000u | uint32_t(d) << 11 | reg;
    io->write(0, {reinterpret_cast<uint8_t*>(&a), 4});
  };
  uint32_t v = 0;
  addr(0, 0);
  io->read(4, {reinterpret_cast<uint8_t*>(&v), 4});
  EXPECT_EQ(v, 0x00081b36u);  // host bridge
  addr(0, 8);
  io->read(4, {reinterpret_cast<uint8_t*>(&v), 4});
  EXPECT_EQ(v >> 8, 0x060000u);
  addr(1, 0);
  io->read(4, {reinterpret_cast<uint8_t*>(&v), 4});
  EXPECT_EQ(v, 0x10411af4u);
  uint16_t w = 0;
  addr(1, 0);
  io->read(6, {reinterpret_cast<uint8_t*>(&w), 2});  // 0xCFE: device id
  EXPECT_EQ(w, 0x1041);
  addr(2, 0);
  io->read(4, {reinterpret_cast<uint8_t*>(&v), 4});
  EXPECT_EQ(v, 0xffffffffu);  // empty slot
  ecam->read(1 << 15, {reinterpret_cast<uint8_t*>(&v), 4});
  EXPECT_EQ(v, 0x10411af4u);
  ecam->read(1 << 15 | 1 << 12, {reinterpret_cast<uint8_t*>(&v), 4});
  EXPECT_EQ(v, 0xffffffffu);  // function 1
  // Disabled address register: no access.
  uint32_t a = 1u << 11;
  io->write(0, {reinterpret_cast<uint8_t*>(&a), 4});
  io->read(4, {reinterpret_cast<uint8_t*>(&v), 4});
  EXPECT_EQ(v, 0xffffffffu);
  // Writes go through both mechanisms.
  uint8_t line = 11;
  ecam->write(1 << 15 | kInterruptLine, {&line, 1});
  addr(1, kInterruptLine);
  uint8_t got = 0;
  io->read(4, {&got, 1});
  EXPECT_EQ(got, 11);
}

TEST(PciBus, AllocatesAlignedBarsInWindows) {
  PciBus bus;
  auto a = std::make_shared<TestFunction>();
  auto b = std::make_shared<TestFunction>();
  a->add_memory_bar(0, 0x1000, false);
  a->add_memory_bar(2, 0x100000, true);
  b->add_memory_bar(0, 0x8000, false);
  bus.add(a);
  bus.add(b);
  bus.allocate_bars({0xc0001000, 0x10000}, {0x100000000, 0x100000});
  EXPECT_EQ(a->bar_address(2), 0x100000000u);
  EXPECT_EQ(b->bar_address(0), 0xc0008000u);
  EXPECT_EQ(a->bar_address(0), 0xc0010000u);
  RecordingListener l;
  bus.set_bar_listener(&l);
  bus.enable_all();
  EXPECT_EQ(l.changes.size(), 3u);
  PciBus small;
  auto c = std::make_shared<TestFunction>();
  c->add_memory_bar(0, 0x100000, false);
  small.add(c);
  EXPECT_THROW(small.allocate_bars({0xc0000000, 0x80000}, {}), Error);
}

TEST(Msix, MaskingPendingAndFunctionMask) {
  testing::RecordingMsi msi;
  TestFunction f;
  f.add_memory_bar(0, 0x4000, false);
  Msix msix(3, &msi);
  uint16_t cap = msix.add_capability(f, 0, 0x2000, 0x3000);
  EXPECT_EQ(rd32(f, cap) & 0xffff07ff, 0x00020000u | 0x11u);  // table size 3-1
  EXPECT_EQ(rd32(f, cap + 4), 0x2000u);
  EXPECT_EQ(rd32(f, cap + 8), 0x3000u);
  msix.notify(1);  // disabled: pending
  EXPECT_EQ(msi.count(), 0u);
  EXPECT_TRUE(msix.pending(1));
  uint32_t entry[4] = {0xfee00000, 0, 0x4041, 0};
  msix.table_write(16, {reinterpret_cast<uint8_t*>(entry), 16});
  EXPECT_EQ(msi.count(), 0u);  // MSI-X still disabled
  wr16(f, cap + 2, kMsixEnable | kMsixFunctionMask);
  msix.control_written(uint16_t(rd32(f, cap) >> 16));
  EXPECT_TRUE(msix.enabled());
  EXPECT_EQ(msi.count(), 0u);  // function masked
  wr16(f, cap + 2, kMsixEnable);
  msix.control_written(uint16_t(rd32(f, cap) >> 16));
  ASSERT_EQ(msi.count(), 1u);  // pending delivered on unmask
  EXPECT_EQ(msi.sent[0], std::make_pair(uint64_t(0xfee00000), uint32_t(0x4041)));
  EXPECT_FALSE(msix.pending(1));
  msix.notify(1);
  EXPECT_EQ(msi.count(), 2u);
  msix.notify(0);  // vector 0 still masked
  EXPECT_EQ(msi.count(), 2u);
  uint8_t pba = 0;
  msix.pba_read(0, {&pba, 1});
  EXPECT_EQ(pba, 1);
  std::vector<uint16_t> rewritten;
  msix.set_entry_listener([&](uint16_t v, const MsixEntry& e) {
    rewritten.push_back(v);
    EXPECT_EQ(e.data, v == 2 ? 0x77u : e.data);
  });
  uint32_t data2 = 0x77;
  msix.table_write(2 * 16 + 8, {reinterpret_cast<uint8_t*>(&data2), 4});
  ASSERT_EQ(rewritten.size(), 1u);
  EXPECT_EQ(rewritten[0], 2);
  msix.notify(7);  // out of range: ignored
  uint32_t back = 0;
  msix.table_read(16 + 8, {reinterpret_cast<uint8_t*>(&back), 4});
  EXPECT_EQ(back, 0x4041u);
}

}  // namespace
}  // namespace insula::pci
