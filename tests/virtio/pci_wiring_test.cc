// End to end as the machine wires it: the guest enumerates over 0xCF8/0xCFC,
// sizes and programs BAR 0, enables decode; a BAR listener maps PciBarRegions
// on an MMIO IoBus; the guest then drives virtio-rng through that bus, and
// keeps doing so after moving the BAR while the device is active.
#include <gtest/gtest.h>

#include <cstring>

#include "devices/io_bus.h"
#include "devices/pci/pci_bus.h"
#include "devices/virtio/virtio_pci.h"
#include "devices/virtio/virtio_rng.h"
#include "fakes.h"

namespace insula::virtio {
namespace {

// What vmm/ does on BAR changes (minus ioeventfds).
class BusMapper : public pci::PciBarListener {
 public:
  explicit BusMapper(IoBus& mmio) : mmio_(mmio) {}
  void bar_changed(pci::PciFunction& f, int bar, std::optional<pci::BarMapping> old_m,
                   std::optional<pci::BarMapping> new_m) override {
    if (old_m) mmio_.remove(old_m->address);
    if (new_m) mmio_.add(new_m->address, new_m->size, std::make_shared<pci::PciBarRegion>(f.shared_from_this(), bar));
    changes++;
  }
  int changes = 0;

 private:
  IoBus& mmio_;
};

class Guest {
 public:
  Guest(IoBus& pio, IoBus& mmio) : pio_(pio), mmio_(mmio) {}
  uint32_t cfg_read(int dev, uint32_t reg) {
    select(dev, reg);
    uint32_t v = 0;
    pio_.read(0xcfc, {reinterpret_cast<uint8_t*>(&v), 4});
    return v;
  }
  void cfg_write(int dev, uint32_t reg, uint32_t v) {
    select(dev, reg);
    pio_.write(0xcfc, {reinterpret_cast<uint8_t*>(&v), 4});
  }
  template <typename T>
  void w(uint64_t a, T v) {
    mmio_.write(a, {reinterpret_cast<uint8_t*>(&v), sizeof v});
  }
  template <typename T>
  T r(uint64_t a) {
    T v{};
    mmio_.read(a, {reinterpret_cast<uint8_t*>(&v), sizeof v});
    return v;
  }

 private:
  void select(int dev, uint32_t reg) {
    uint32_t a = 0x80000000u | uint32_t(dev) << 11 | (reg & 0xfc);
    pio_.write(0xcf8, {reinterpret_cast<uint8_t*>(&a), 4});
  }
  IoBus& pio_;
  IoBus& mmio_;
};

uint32_t cfg_read_ok(Guest& g, int d) { return g.cfg_read(d, 0); }

TEST(PciWiring, GuestEnumeratesProgramsAndUsesAVirtioDevice) {
  testing::FakeRam ram(0x100000);
  testing::RecordingMsi msi;
  IoBus pio, mmio;
  pci::PciBus bus;
  BusMapper mapper(mmio);
  bus.set_bar_listener(&mapper);
  pio.add(pci::kConfigIoBase, pci::kConfigIoSize, bus.config_io(), "pci");
  auto pci_dev = std::make_shared<VirtioPci>(std::make_shared<VirtioRng>(), ram.mem, &msi, nullptr);
  int slot = bus.add(pci_dev);
  bus.allocate_bars({0xc0000000, 0x100000}, {0x800000000, 0x100000});
  Guest g(pio, mmio);

  // Find the device, size BAR 0 the way Linux does (decode off).
  int found = -1;
  for (int d = 0; d < 32; d++)
    if (cfg_read_ok(g, d) == 0x10441af4u) found = d;
  ASSERT_EQ(found, slot);
  g.cfg_write(slot, 0x10, 0xffffffff);
  g.cfg_write(slot, 0x14, 0xffffffff);
  uint64_t size = ~((uint64_t(g.cfg_read(slot, 0x14)) << 32 | (g.cfg_read(slot, 0x10) & ~0xfu))) + 1;
  EXPECT_EQ(size, kVirtioBarSize);
  g.cfg_write(slot, 0x10, 0xc0010000);
  g.cfg_write(slot, 0x14, 0);
  EXPECT_EQ(mapper.changes, 0);
  g.cfg_write(slot, 0x04, pci::kCommandMemory | pci::kCommandBusMaster);
  EXPECT_EQ(mapper.changes, 1);
  ASSERT_EQ(pci_dev->notify_address(0), std::optional<uint64_t>(0xc0010000 + kNotifyOffset));

  // Drive the device through the MMIO bus.
  uint64_t bar = 0xc0010000;
  g.w<uint8_t>(bar + 20, 3);
  g.w<uint32_t>(bar + 8, 1);
  g.w<uint32_t>(bar + 12, 1);  // VERSION_1
  g.w<uint8_t>(bar + 20, 0xb);
  g.w<uint16_t>(bar + 22, 0);
  g.w<uint16_t>(bar + 24, 8);
  g.w<uint64_t>(bar + 32, 0x1000);
  g.w<uint64_t>(bar + 40, 0x2000);
  g.w<uint64_t>(bar + 48, 0x3000);
  g.w<uint16_t>(bar + 28, 1);
  g.w<uint8_t>(bar + 20, 0xf);
  ASSERT_EQ(g.r<uint8_t>(bar + 20), 0xf);
  auto post = [&](uint16_t idx) {
    uint64_t addr = 0x10000;
    uint32_t len = 32;
    uint16_t flags = kDescWrite, next = 0;
    uint8_t d[16];
    std::memcpy(d, &addr, 8);
    std::memcpy(d + 8, &len, 4);
    std::memcpy(d + 12, &flags, 2);
    std::memcpy(d + 14, &next, 2);
    ram.mem.write(0x1000, d, 16);
    uint16_t head = 0;
    ram.mem.write_obj(0x2004 + 2 * ((idx - 1) % 8), head);
    ram.mem.write_obj(0x2002, idx);
  };
  post(1);
  g.w<uint16_t>(bar + kNotifyOffset, 0);
  uint16_t used = 0;
  ram.mem.read_obj(0x3002, used);
  EXPECT_EQ(used, 1);

  // Move BAR 0 while the device runs: the old range goes, the new one works.
  g.cfg_write(slot, 0x10, 0xc0020000);
  EXPECT_EQ(mapper.changes, 2);
  EXPECT_FALSE(mmio.read(bar + 20, std::span<uint8_t>()));
  bar = 0xc0020000;
  EXPECT_EQ(g.r<uint8_t>(bar + 20), 0xf);
  post(2);
  g.w<uint16_t>(bar + kNotifyOffset, 0);
  ram.mem.read_obj(0x3002, used);
  EXPECT_EQ(used, 2);
}

}  // namespace
}  // namespace insula::virtio
