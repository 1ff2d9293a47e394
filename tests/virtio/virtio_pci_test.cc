// The modern PCI transport, driven by a fake driver, with virtio-rng behind it.
#include <gtest/gtest.h>

#include <map>

#include "devices/virtio/virtio_pci.h"
#include "devices/virtio/virtio_rng.h"
#include "fake_driver.h"

namespace insula::virtio {
namespace {

using testing::FakeDriver;
using testing::FakeRam;
using testing::Seg;

struct Rig {
  Rig() : ram(0x100000), pci(rng, ram.mem, &msi, &irq), drv(pci, ram) {}
  std::shared_ptr<VirtioRng> rng = std::make_shared<VirtioRng>();
  FakeRam ram;
  testing::RecordingMsi msi;
  testing::RecordingIrq irq;
  VirtioPci pci;
  FakeDriver drv;
};

uint8_t cfg8(VirtioPci& p, uint32_t off) {
  uint8_t v;
  p.config_read(off, {&v, 1});
  return v;
}
uint32_t cfg32(VirtioPci& p, uint32_t off) {
  uint32_t v;
  p.config_read(off, {reinterpret_cast<uint8_t*>(&v), 4});
  return v;
}

TEST(VirtioPci, PresentsModernIdsAndCapabilities) {
  Rig r;
  EXPECT_EQ(cfg32(r.pci, 0), 0x10441af4u);  // 0x1040 + rng(4)
  std::map<uint8_t, uint32_t> offsets;
  uint32_t multiplier = 0;
  bool msix = false;
  int guard = 0;
  for (uint8_t p = cfg8(r.pci, pci::kCapPointer); p && guard < 48; p = cfg8(r.pci, p + 1), guard++) {
    if (cfg8(r.pci, p) == pci::kCapIdMsix) msix = true;
    if (cfg8(r.pci, p) != pci::kCapIdVendor) continue;
    uint8_t type = cfg8(r.pci, p + 3);
    EXPECT_EQ(cfg8(r.pci, p + 4), 0);  // BAR 0
    offsets[type] = cfg32(r.pci, p + 8);
    if (type == 2) multiplier = cfg32(r.pci, p + 16);
  }
  EXPECT_TRUE(msix);
  EXPECT_EQ(offsets[1], kCommonCfgOffset);
  EXPECT_EQ(offsets[2], kNotifyOffset);
  EXPECT_EQ(offsets[3], kIsrOffset);
  EXPECT_EQ(offsets[4], kDeviceCfgOffset);
  EXPECT_EQ(multiplier, kNotifyMultiplier);
  EXPECT_EQ(r.pci.bar_size(0), kVirtioBarSize);
  EXPECT_TRUE(r.pci.bar_is_64bit(0));
}

TEST(VirtioPci, PciCfgCapabilityReachesBar0) {
  Rig r;
  uint8_t cap = 0;
  for (uint8_t p = cfg8(r.pci, pci::kCapPointer); p; p = cfg8(r.pci, p + 1))
    if (cfg8(r.pci, p) == pci::kCapIdVendor && cfg8(r.pci, p + 3) == 5) cap = p;
  ASSERT_NE(cap, 0);
  auto w32 = [&](uint32_t off, uint32_t v) { r.pci.config_write(off, {reinterpret_cast<uint8_t*>(&v), 4}); };
  w32(cap + 8, 20);  // device_status through the window
  w32(cap + 12, 1);
  w32(cap + 16, 1);  // ACKNOWLEDGE
  EXPECT_EQ(r.drv.status(), 1);
  w32(cap + 8, 18);  // num_queues, 2 bytes
  w32(cap + 12, 2);
  EXPECT_EQ(cfg32(r.pci, cap + 16) & 0xffff, 1u);
  w32(cap + 12, 3);  // bad length: window inert
  w32(cap + 16, 0);
  EXPECT_EQ(r.drv.status(), 1);
}

TEST(VirtioPci, FeatureNegotiation) {
  Rig r;
  uint64_t f = r.drv.device_features();
  EXPECT_TRUE(f & kFVersion1);
  EXPECT_TRUE(f & kFRingEventIdx);
  EXPECT_TRUE(f & kFRingIndirectDesc);
  EXPECT_FALSE(r.drv.negotiate(kFRingEventIdx));       // legacy driver: refused
  EXPECT_FALSE(r.drv.negotiate(kFVersion1 | 1ull << 5));  // not offered
  EXPECT_TRUE(r.drv.negotiate(kFVersion1));
  // Features are frozen after FEATURES_OK.
  r.drv.w<uint32_t>(8, 0);
  r.drv.w<uint32_t>(12, 0xffffffff);
  EXPECT_EQ(r.pci.acked_features(), kFVersion1);
}

TEST(VirtioPci, RngFillsBuffersAndRaisesMsix) {
  Rig r;
  testing::enable_msix(r.pci, 2);
  ASSERT_TRUE(r.drv.negotiate(kFVersion1));
  r.drv.setup_queue(0, 16, 0x1000, 1);
  r.drv.w<uint16_t>(16, 0);  // config vector 0
  EXPECT_EQ(r.drv.r<uint16_t>(16), 0);
  r.drv.driver_ok();
  ASSERT_EQ(r.drv.status(), 0xf);
  r.drv.add(0, {Seg{0x10000, 64, true}, Seg{0x20000, 64, true}});
  r.drv.kick(0);
  auto u = r.drv.used(0);
  ASSERT_TRUE(u);
  EXPECT_EQ(u->first, 0u);
  EXPECT_EQ(u->second, 128u);
  int nonzero = 0;
  for (int i = 0; i < 64; i++) nonzero += r.ram.bytes[0x10000 + i] != 0 || r.ram.bytes[0x20000 + i] != 0;
  EXPECT_GT(nonzero, 32);
  ASSERT_EQ(r.msi.count(), 1u);
  EXPECT_EQ(r.msi.sent[0].second, 0x41u);  // queue vector 1
  // The notify register in BAR 0 works like the ioeventfd path.
  r.drv.add(0, {Seg{0x10000, 8, true}});
  r.drv.w<uint16_t>(VirtioPci::notify_offset(0), 0);
  EXPECT_TRUE(r.drv.used(0));
  EXPECT_EQ(r.msi.count(), 2u);
}

TEST(VirtioPci, IntxFallbackAndIsr) {
  Rig r;
  ASSERT_TRUE(r.drv.negotiate(kFVersion1));
  r.drv.setup_queue(0, 8, 0x1000);
  r.drv.driver_ok();
  r.drv.add(0, {Seg{0x10000, 16, true}});
  r.drv.kick(0);
  EXPECT_TRUE(r.irq.level);
  EXPECT_EQ(r.msi.count(), 0u);
  EXPECT_EQ(r.drv.r<uint8_t>(kIsrOffset), 1);
  EXPECT_FALSE(r.irq.level);
  EXPECT_EQ(r.drv.r<uint8_t>(kIsrOffset), 0);
}

TEST(VirtioPci, QueueSizeNotPowerOfTwoNeedsReset) {
  Rig r;
  ASSERT_TRUE(r.drv.negotiate(kFVersion1));
  r.drv.setup_queue(0, 12, 0x1000);
  r.drv.driver_ok();
  EXPECT_TRUE(r.drv.status() & kStatusNeedsReset);
  r.drv.add(0, {Seg{0x10000, 16, true}});
  r.drv.kick(0);  // ignored, no crash
  EXPECT_FALSE(r.drv.used(0));
}

TEST(VirtioPci, HostileChainSetsNeedsResetAndConfigInterrupt) {
  Rig r;
  ASSERT_TRUE(r.drv.negotiate(kFVersion1));
  r.drv.setup_queue(0, 8, 0x1000);
  r.drv.driver_ok();
  r.drv.write_desc(0, 0, 0x10000, 16, kDescNext | kDescWrite, 0);  // points at itself
  r.drv.publish(0, 0);
  uint8_t gen = r.drv.r<uint8_t>(21);
  r.drv.kick(0);
  EXPECT_TRUE(r.drv.status() & kStatusNeedsReset);
  EXPECT_EQ(r.drv.r<uint8_t>(kIsrOffset), 2);  // config change
  EXPECT_NE(r.drv.r<uint8_t>(21), gen);
  // A reset brings the device back.
  r.drv.w<uint8_t>(20, 0);
  EXPECT_EQ(r.drv.status(), 0);
  FakeDriver fresh(r.pci, r.ram);
  ASSERT_TRUE(fresh.negotiate(kFVersion1));
  fresh.setup_queue(0, 8, 0x1000);
  fresh.driver_ok();
  EXPECT_EQ(fresh.status(), 0xf);
  fresh.add(0, {Seg{0x10000, 16, true}});
  fresh.kick(0);
  EXPECT_TRUE(fresh.used(0));
}

TEST(VirtioPci, QueueRegistersAreFrozenOnceEnabled) {
  Rig r;
  ASSERT_TRUE(r.drv.negotiate(kFVersion1));
  r.drv.setup_queue(0, 8, 0x1000);
  r.drv.w<uint16_t>(24, 4);
  EXPECT_EQ(r.drv.r<uint16_t>(24), 8);
  r.drv.w<uint16_t>(22, 5);  // no such queue
  EXPECT_EQ(r.drv.r<uint16_t>(24), 0);
  r.drv.w<uint16_t>(22, 0);
  EXPECT_EQ(r.drv.r<uint64_t>(32), 0x1000u);
  EXPECT_EQ(r.drv.r<uint16_t>(18), 1);  // num_queues
}

TEST(VirtioPci, SaveRestoreKeepsRunningQueue) {
  Rig r;
  ASSERT_TRUE(r.drv.negotiate(kFVersion1 | kFRingEventIdx));
  r.drv.setup_queue(0, 8, 0x1000);
  r.drv.driver_ok();
  r.drv.add(0, {Seg{0x10000, 16, true}});
  r.drv.kick(0);
  ASSERT_TRUE(r.drv.used(0));
  VirtioPciState saved = r.pci.save();
  auto rng2 = std::make_shared<VirtioRng>();
  VirtioPci other(rng2, r.ram.mem, &r.msi, &r.irq);
  other.restore(saved);
  EXPECT_EQ(other.status(), 0xf);
  EXPECT_EQ(other.acked_features(), kFVersion1 | kFRingEventIdx);
  r.drv.add(0, {Seg{0x10000, 16, true}});
  other.notify(0);
  auto u = r.drv.used(0);
  ASSERT_TRUE(u);
  EXPECT_EQ(u->first, 1u);
}

}  // namespace
}  // namespace insula::virtio
