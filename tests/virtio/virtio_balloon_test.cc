// virtio-balloon: target, inflate (pages really released), deflate, stats.
#include <gtest/gtest.h>
#include <sys/mman.h>

#include <cstring>
#include <vector>

#include "base/error.h"
#include "devices/virtio/virtio_balloon.h"
#include "fake_driver.h"

namespace insula::virtio {
namespace {

using testing::Seg;

// Guest RAM from mmap so madvise(MADV_DONTNEED) has page-aligned memory.
struct MappedRam {
  explicit MappedRam(size_t size) : size(size) {
    p = static_cast<uint8_t*>(::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    mem.add_region(MemoryRegion{0, size, p});
  }
  ~MappedRam() { ::munmap(p, size); }
  size_t size;
  uint8_t* p;
  GuestMemory mem;
};

struct BalloonRig {
  BalloonRig() : balloon(std::make_shared<VirtioBalloon>()), ram(0x100000), pci(balloon, ram.mem, &msi, nullptr), drv(pci, fake) {
    fake.mem = ram.mem;
    EXPECT_TRUE(drv.negotiate(kFVersion1 | kBalloonFStatsVq));
    drv.setup_queue(0, 16, 0x1000);
    drv.setup_queue(1, 16, 0x2000);
    drv.setup_queue(2, 16, 0x3000);
    drv.driver_ok();
    EXPECT_EQ(drv.status(), 0xf);
  }
  std::shared_ptr<VirtioBalloon> balloon;
  MappedRam ram;
  testing::FakeRam fake{0};
  testing::RecordingMsi msi;
  VirtioPci pci;
  testing::FakeDriver drv;
};

TEST(VirtioBalloon, TargetAndActual) {
  BalloonRig r;
  uint8_t gen = r.drv.r<uint8_t>(21);
  r.balloon->set_target_pages(64);
  EXPECT_EQ(r.drv.r<uint32_t>(kDeviceCfgOffset), 64u);
  EXPECT_NE(r.drv.r<uint8_t>(21), gen);
  r.drv.w<uint32_t>(kDeviceCfgOffset + 4, 32);
  r.drv.w<uint32_t>(kDeviceCfgOffset, 9999);  // num_pages is not driver-writable
  EXPECT_EQ(r.balloon->actual_pages(), 32u);
  EXPECT_EQ(r.balloon->target_pages(), 64u);
}

TEST(VirtioBalloon, InflateReleasesPagesDeflateReturnsThem) {
  BalloonRig r;
  std::memset(r.ram.p + 0x80000, 0xaa, 0x2000);
  uint32_t pfns[3] = {0x80, 0x81, 0xfffff};  // the last is outside RAM
  std::memcpy(r.ram.p + 0x10000, pfns, sizeof pfns);
  r.drv.add(0, {Seg{0x10000, sizeof pfns, false}});
  r.drv.kick(0);
  ASSERT_TRUE(r.drv.used(0));
  EXPECT_EQ(r.balloon->inflated_pages(), 2u);
  EXPECT_EQ(r.ram.p[0x80000], 0);  // released: reads back as zero
  EXPECT_EQ(r.ram.p[0x81fff], 0);
  r.drv.add(1, {Seg{0x10000, 4, false}});
  r.drv.kick(1);
  ASSERT_TRUE(r.drv.used(1));
  EXPECT_EQ(r.balloon->inflated_pages(), 1u);
}

TEST(VirtioBalloon, StatsOnRequest) {
  BalloonRig r;
  EXPECT_FALSE(r.balloon->request_stats());
  uint8_t entry[20] = {};
  uint16_t tag = uint16_t(BalloonStat::kFreeMemory);
  uint64_t val = 123456;
  std::memcpy(entry, &tag, 2);
  std::memcpy(entry + 2, &val, 8);
  tag = uint16_t(BalloonStat::kTotalMemory);
  val = 999999;
  std::memcpy(entry + 10, &tag, 2);
  std::memcpy(entry + 12, &val, 8);
  std::memcpy(r.ram.p + 0x10000, entry, 20);
  r.drv.add(2, {Seg{0x10000, 20, false}});
  r.drv.kick(2);
  EXPECT_FALSE(r.drv.used(2));  // held until the host asks
  auto s = r.balloon->stats();
  EXPECT_EQ(s[uint16_t(BalloonStat::kFreeMemory)], 123456u);
  EXPECT_EQ(s[uint16_t(BalloonStat::kTotalMemory)], 999999u);
  EXPECT_TRUE(r.balloon->request_stats());
  EXPECT_TRUE(r.drv.used(2));
  EXPECT_FALSE(r.balloon->request_stats());
}

bool resident(const uint8_t* p) {
  unsigned char v = 0;
  EXPECT_EQ(::mincore(const_cast<uint8_t*>(p), 4096, &v), 0);
  return v & 1;
}

// Inflated pages really go back to the host (no longer resident), pages the
// guest names outside RAM or twice are harmless, and a deflated page is
// usable again (it faults back in, zeroed).
TEST(VirtioBalloon, InflatedPagesLeaveTheHostDeflatedOnesComeBack) {
  BalloonRig r;
  std::memset(r.ram.p + 0x40000, 0x5a, 0x10000);  // 16 pages, now resident
  for (int i = 0; i < 16; ++i) ASSERT_TRUE(resident(r.ram.p + 0x40000 + i * 4096));
  std::vector<uint32_t> pfns;
  for (uint32_t i = 0; i < 16; ++i) pfns.push_back(0x40 + i);
  pfns.push_back(0x100);        // the first page past RAM
  pfns.push_back(0xffffffffu);  // far outside
  std::memcpy(r.ram.p + 0x10000, pfns.data(), pfns.size() * 4);
  r.drv.add(0, {Seg{0x10000, uint32_t(pfns.size() * 4), false}});
  r.drv.kick(0);
  ASSERT_TRUE(r.drv.used(0));
  EXPECT_EQ(r.balloon->inflated_pages(), 16u);
  for (int i = 0; i < 16; ++i) EXPECT_FALSE(resident(r.ram.p + 0x40000 + i * 4096)) << i;
  // The guest takes 8 back and uses them.
  r.drv.add(1, {Seg{0x10000, 8 * 4, false}});
  r.drv.kick(1);
  ASSERT_TRUE(r.drv.used(1));
  EXPECT_EQ(r.balloon->inflated_pages(), 8u);
  r.ram.p[0x40000] = 7;
  EXPECT_EQ(r.ram.p[0x40000], 7);
  EXPECT_EQ(r.ram.p[0x40001], 0);
  // A chain of odd length (not whole PFNs) is served, the tail ignored.
  r.drv.add(0, {Seg{0x10000, 6, false}});
  r.drv.kick(0);
  EXPECT_TRUE(r.drv.used(0));
}

// As Linux does: the first stats buffer is queued and kicked before
// DRIVER_OK. The device must still pick it up once activated.
TEST(VirtioBalloon, StatsBufferKickedBeforeDriverOkIsTaken) {
  auto balloon = std::make_shared<VirtioBalloon>(false, true);
  MappedRam ram(0x100000);
  testing::FakeRam fake{0};
  fake.mem = ram.mem;
  testing::RecordingMsi msi;
  VirtioPci pci(balloon, ram.mem, &msi, nullptr);
  testing::FakeDriver drv(pci, fake);
  ASSERT_TRUE(drv.negotiate(kFVersion1 | kBalloonFStatsVq));
  drv.setup_queue(0, 16, 0x1000);
  drv.setup_queue(1, 16, 0x2000);
  drv.setup_queue(2, 16, 0x3000);
  uint8_t entry[10];
  uint16_t tag = uint16_t(BalloonStat::kTotalMemory);
  uint64_t val = 777;
  std::memcpy(entry, &tag, 2);
  std::memcpy(entry + 2, &val, 8);
  std::memcpy(ram.p + 0x10000, entry, 10);
  drv.add(2, {Seg{0x10000, 10, false}});
  drv.kick(2);
  EXPECT_TRUE(balloon->stats().empty());
  drv.driver_ok();
  EXPECT_EQ(balloon->stats()[uint16_t(BalloonStat::kTotalMemory)], 777u);
  EXPECT_TRUE(balloon->request_stats());
}

TEST(VirtioBalloon, FeaturesFollowTheOptions) {
  VirtioBalloon plain(false, false);
  EXPECT_EQ(plain.features() & (kBalloonFStatsVq | kBalloonFDeflateOnOom), 0u);
  VirtioBalloon full(true, true);
  EXPECT_EQ(full.features() & (kBalloonFStatsVq | kBalloonFDeflateOnOom), kBalloonFStatsVq | kBalloonFDeflateOnOom);
  EXPECT_TRUE(full.stats_enabled());
  EXPECT_FALSE(plain.deflate_on_oom());
}

// The polling cycle of the virtio spec: the device holds the guest's buffer,
// gives it back to ask for fresh values, and the guest sends it again.
TEST(VirtioBalloon, StatsRefreshEachTimeTheHostAsks) {
  BalloonRig r;
  auto send = [&](uint64_t free_bytes) {
    uint8_t entry[10];
    uint16_t tag = uint16_t(BalloonStat::kFreeMemory);
    std::memcpy(entry, &tag, 2);
    std::memcpy(entry + 2, &free_bytes, 8);
    std::memcpy(r.ram.p + 0x10000, entry, 10);
    r.drv.add(2, {Seg{0x10000, 10, false}});
    r.drv.kick(2);
  };
  send(1000);
  EXPECT_EQ(r.balloon->stats()[uint16_t(BalloonStat::kFreeMemory)], 1000u);
  for (uint64_t round = 1; round <= 3; ++round) {
    ASSERT_TRUE(r.balloon->request_stats());
    ASSERT_TRUE(r.drv.used(2));
    send(1000 + round);
    EXPECT_EQ(r.balloon->stats()[uint16_t(BalloonStat::kFreeMemory)], 1000 + round);
  }
  // A second buffer while one is held: the old one is given back.
  send(5000);
  EXPECT_TRUE(r.drv.used(2));
  EXPECT_EQ(r.balloon->stats()[uint16_t(BalloonStat::kFreeMemory)], 5000u);
}

// A snapshot taken while the device holds the guest's stats buffer: the
// restored device still holds it, so the host can ask again (Linux sends its
// buffer once and waits for it back).
TEST(VirtioBalloon, HeldStatsBufferSurvivesSaveAndRestore) {
  BalloonRig r;
  uint8_t entry[10];
  uint16_t tag = uint16_t(BalloonStat::kFreeMemory);
  uint64_t val = 4242;
  std::memcpy(entry, &tag, 2);
  std::memcpy(entry + 2, &val, 8);
  std::memcpy(r.ram.p + 0x10000, entry, 10);
  r.drv.add(2, {Seg{0x10000, 10, false}});
  r.drv.kick(2);
  VirtioBalloonState saved = r.balloon->save();
  EXPECT_NE(saved.stats_head, VirtioBalloonState::kNoStatsHead);
  VirtioPciState transport = r.pci.save();

  auto restored = std::make_shared<VirtioBalloon>();
  testing::RecordingMsi msi;
  VirtioPci pci(restored, r.ram.mem, &msi, nullptr);
  restored->restore(saved);
  pci.restore(transport);
  EXPECT_TRUE(restored->request_stats());
  EXPECT_TRUE(r.drv.used(2));  // the guest got its buffer back
  EXPECT_FALSE(restored->request_stats());

  saved.stats_head = 0x10000;
  EXPECT_THROW(restored->restore(saved), Error);
}

}  // namespace
}  // namespace insula::virtio
