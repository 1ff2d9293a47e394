// virtio-blk against a memory-backed disk, driven through the PCI transport.
#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <thread>

#include "base/event_loop.h"
#include "devices/virtio/virtio_blk.h"
#include "blk_rig.h"

namespace insula::virtio {
namespace {

using testing::BlkRig;
using testing::kData;
using testing::kHdr;
using testing::kStatus;
using testing::Seg;

TEST(VirtioBlk, ConfigAndFeatures) {
  BlkRig r;
  EXPECT_EQ(r.drv.r<uint64_t>(kDeviceCfgOffset), (1u << 20) / 512);
  EXPECT_EQ(r.drv.r<uint32_t>(kDeviceCfgOffset + 20), 512u);
  uint64_t f = r.drv.device_features();
  EXPECT_TRUE(f & kBlkFFlush);
  EXPECT_TRUE(f & kBlkFDiscard);
  EXPECT_FALSE(f & kBlkFRo);
}

TEST(VirtioBlk, WriteThenReadBack) {
  BlkRig r;
  for (int i = 0; i < 1024; i++) r.ram.bytes[kData + i] = uint8_t(i * 7);
  auto [len, st] = r.run(kBlkTOut, 3, {Seg{kData, 1024, false}});
  EXPECT_EQ(st, kBlkSOk);
  EXPECT_EQ(len, 1u);
  EXPECT_EQ(r.disk->data[3 * 512 + 5], uint8_t(5 * 7));
  // Read into two buffers, the second of which is split.
  auto [len2, st2] = r.run(kBlkTIn, 3, {Seg{kData + 0x2000, 512, true}, Seg{kData + 0x4000, 512, true}});
  EXPECT_EQ(st2, kBlkSOk);
  EXPECT_EQ(len2, 1025u);
  EXPECT_EQ(0, std::memcmp(&r.ram.bytes[kData], &r.ram.bytes[kData + 0x2000], 512));
  EXPECT_EQ(0, std::memcmp(&r.ram.bytes[kData + 512], &r.ram.bytes[kData + 0x4000], 512));
}

TEST(VirtioBlk, OutOfRangeAndUnalignedAreIoErrors) {
  BlkRig r;
  EXPECT_EQ(r.run(kBlkTIn, 2047, {Seg{kData, 1024, true}}).second, kBlkSIoErr);
  EXPECT_EQ(r.run(kBlkTIn, ~0ull, {Seg{kData, 512, true}}).second, kBlkSIoErr);
  EXPECT_EQ(r.run(kBlkTIn, 0, {Seg{kData, 100, true}}).second, kBlkSIoErr);
  EXPECT_EQ(r.run(kBlkTIn, 2047, {Seg{kData, 512, true}}).second, kBlkSOk);
}

TEST(VirtioBlk, FlushGetIdUnsupported) {
  BlkRig r;
  EXPECT_EQ(r.run(kBlkTFlush, 0, {}).second, kBlkSOk);
  EXPECT_EQ(r.disk->flushes, 1);
  auto [len, st] = r.run(kBlkTGetId, 0, {Seg{kData, 20, true}});
  EXPECT_EQ(st, kBlkSOk);
  EXPECT_EQ(len, 21u);
  EXPECT_EQ(std::string(reinterpret_cast<char*>(&r.ram.bytes[kData])), "insula-disk-0");
  EXPECT_EQ(r.run(99, 0, {}).second, kBlkSUnsupp);
}

TEST(VirtioBlk, DiscardAndWriteZeroes) {
  BlkRig r;
  std::fill(r.disk->data.begin(), r.disk->data.end(), 0xab);
  uint32_t range[4] = {8, 0, 16, 0};  // sector 8, 16 sectors, flags 0
  r.ram.mem.write(kData, range, 16);
  EXPECT_EQ(r.run(kBlkTDiscard, 0, {Seg{kData, 16, false}}).second, kBlkSOk);
  EXPECT_EQ(r.disk->discards, 1);
  EXPECT_EQ(r.disk->data[8 * 512], 0);
  EXPECT_EQ(r.disk->data[24 * 512], 0xab);
  uint32_t wz[4] = {100, 0, 2, 1};  // unmap allowed
  r.ram.mem.write(kData, wz, 16);
  EXPECT_EQ(r.run(kBlkTWriteZeroes, 0, {Seg{kData, 16, false}}).second, kBlkSOk);
  EXPECT_EQ(r.disk->data[101 * 512 + 511], 0);
  EXPECT_EQ(r.disk->data[102 * 512], 0xab);
  uint32_t bad[4] = {2047, 0, 4, 0};
  r.ram.mem.write(kData, bad, 16);
  EXPECT_EQ(r.run(kBlkTDiscard, 0, {Seg{kData, 16, false}}).second, kBlkSIoErr);
}

TEST(VirtioBlk, ReadOnlyRejectsWrites) {
  BlkRig r(true);
  EXPECT_TRUE(r.drv.device_features() & kBlkFRo);
  EXPECT_EQ(r.run(kBlkTOut, 0, {Seg{kData, 512, false}}).second, kBlkSIoErr);
  EXPECT_EQ(r.run(kBlkTIn, 0, {Seg{kData, 512, true}}).second, kBlkSOk);
}

TEST(VirtioBlk, MalformedRequestsDoNotCrash) {
  BlkRig r;
  // No status byte (all readable): dropped with used length 0.
  r.header(kBlkTIn, 0);
  r.drv.add(0, {Seg{kHdr, 16, false}});
  r.drv.kick(0);
  EXPECT_EQ(r.complete().first, 0u);
  // Header shorter than 16 bytes.
  r.drv.add(0, {Seg{kHdr, 8, false}, Seg{kStatus, 1, true}});
  r.drv.kick(0);
  EXPECT_EQ(r.complete().first, 0u);
  // Still serves a good request afterwards.
  EXPECT_EQ(r.run(kBlkTFlush, 0, {}).second, kBlkSOk);
}

TEST(VirtioBlk, ResetWaitsForInFlightRequests) {
  BlkRig r;
  for (int i = 0; i < 20; i++) {
    r.header(kBlkTIn, 0);
    r.drv.add(0, {Seg{kHdr, 16, false}, Seg{kData, 4096, true}, Seg{kStatus, 1, true}});
  }
  r.drv.kick(0);
  r.drv.w<uint8_t>(20, 0);  // reset returns once no request is left
  EXPECT_EQ(r.drv.status(), 0);
  EXPECT_EQ(r.blk->save().requests, 20u);
}

TEST(VirtioBlk, OneQueueOffersNoMq) {
  BlkRig r;
  EXPECT_FALSE(r.drv.device_features() & kBlkFMq);
  EXPECT_EQ(r.drv.r<uint16_t>(kDeviceCfgOffset + 34), 1u);
  EXPECT_EQ(r.pci.num_queues(), 1u);
}

TEST(VirtioBlk, MultiqueueConfigAndPerQueueCompletions) {
  BlkRig r(false, 1 << 20, VirtioBlkOptions{false, "mq", 2, 64, 3}, true);
  EXPECT_TRUE(r.drv.device_features() & kBlkFMq);
  EXPECT_EQ(r.drv.r<uint16_t>(kDeviceCfgOffset + 34), 3u);  // num_queues
  EXPECT_EQ(r.drv.r<uint16_t>(18), 3u);                      // transport num_queues
  EXPECT_EQ(r.pci.msix().vectors(), 4u);                    // one per queue + config
  for (int i = 0; i < 512; i++) r.disk->data[512 * 5 + i] = uint8_t(i + 1);
  for (uint16_t q : {2, 0, 1}) {
    size_t before = r.msi.count();
    std::memset(&r.ram.bytes[kData], 0, 512);
    auto [len, st] = r.run(kBlkTIn, 5, {Seg{kData, 512, true}}, q);
    EXPECT_EQ(st, kBlkSOk);
    EXPECT_EQ(len, 513u);
    EXPECT_EQ(r.ram.bytes[kData + 7], 8);
    // Completed on the queue it came from, with that queue's vector.
    for (uint16_t other = 0; other < 3; other++) {
      if (other != q) {
        EXPECT_FALSE(r.drv.used(other)) << "queue " << other;
      }
    }
    for (int i = 0; i < 2000 && r.msi.count() == before; i++) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    ASSERT_EQ(r.msi.count(), before + 1);
    EXPECT_EQ(r.msi.sent.back().second, 0x40u + q);
  }
  // A broken queue flags the device; the others were served before.
  r.drv.set_avail_idx(1, 1000);
  r.drv.kick(1);
  EXPECT_TRUE(r.drv.status() & kStatusNeedsReset);
}

TEST(VirtioBlk, QueueCountOutOfRangeIsRejected) {
  auto disk = std::make_shared<testing::MemDisk>(1 << 20);
  EXPECT_THROW(VirtioBlk(disk, VirtioBlkOptions{false, "", 2, 64, 0}), Error);
  EXPECT_THROW(VirtioBlk(disk, VirtioBlkOptions{false, "", 2, 64, kBlkMaxQueues + 1}), Error);
}

TEST(VirtioBlk, NoNotificationNeededWhileRequestsAreInFlight) {
  BlkRig r;  // EVENT_IDX negotiated
  r.header(kBlkTIn, 0);
  r.disk->close_gate();
  r.add_read();
  r.add_read();
  r.drv.kick(0);
  // Not armed while requests are in flight (avail_event still at its
  // power-on 0): the driver, adding a third buffer now, does not notify...
  EXPECT_EQ(r.drv.avail_event(0), 0u);
  uint16_t old = r.drv.avail_idx(0);
  r.add_read();
  EXPECT_FALSE(r.drv.must_notify(0, old));
  r.disk->open_gate();
  // ...and the third request is served all the same.
  for (int i = 0; i < 3; i++) EXPECT_EQ(r.complete().second, kBlkSOk);
  // Idle again: armed at the end of the ring.
  r.blk->quiesce();
  EXPECT_EQ(r.drv.avail_event(0), 3u);
  EXPECT_EQ(r.blk->save().requests, 3u);
}

// A drain that takes one request from an idle queue does not ask to hear of
// the next: a driver keeping many requests outstanding adds each as another
// completes, and would otherwise notify for every one (an exit each) while
// the device never saw its queue deep (bench/devices runs 41-42: 17342
// kicks for 23057 requests in a QD32 boot).
TEST(VirtioBlk, ARequestAddedWhileOneIsInFlightNeedsNoNotification) {
  BlkRig r;  // EVENT_IDX negotiated
  r.header(kBlkTIn, 0);
  // Idle: one request served, the queue armed behind it.
  r.add_read();
  r.drv.kick(0);
  EXPECT_EQ(r.complete().second, kBlkSOk);
  r.blk->quiesce();
  EXPECT_EQ(r.drv.avail_event(0), 1u);
  // The next request passes avail_event: notified; held in flight.
  r.disk->close_gate();
  uint16_t old = r.drv.avail_idx(0);
  r.add_read();
  EXPECT_TRUE(r.drv.must_notify(0, old));
  r.drv.kick(0);
  // One added while it is in flight needs no notification...
  old = r.drv.avail_idx(0);
  r.add_read();
  EXPECT_FALSE(r.drv.must_notify(0, old));
  r.disk->open_gate();
  // ...and is served when the first completes; then the queue is armed again.
  for (int i = 0; i < 2; i++) EXPECT_EQ(r.complete().second, kBlkSOk);
  r.blk->quiesce();
  EXPECT_EQ(r.drv.avail_event(0), 3u);
  EXPECT_EQ(r.blk->counters().kicks, 2u);
  EXPECT_EQ(r.blk->save().requests, 3u);
}

// The hang dump's lines: what each queue has in flight and holds back.
TEST(VirtioBlk, DescribeStateShowsWhatIsInFlight) {
  BlkRig r;  // one queue, no ring (a MemDisk)
  r.header(kBlkTIn, 0);
  r.disk->close_gate();
  r.add_read();
  r.drv.kick(0);
  auto lines = r.blk->describe_state();
  r.disk->open_gate();
  EXPECT_EQ(r.complete().second, kBlkSOk);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0], "queue 0: 1 in flight, 0 completed unsignalled (0 bytes), deep 0");
  EXPECT_EQ(lines[1], "0 on the ring, hand-over idle, active");
  r.blk->quiesce();
  EXPECT_EQ(r.blk->describe_state()[0], "queue 0: 0 in flight, 0 completed unsignalled (0 bytes), deep 0");
}

TEST(VirtioBlk, OneInterruptForABurst) {
  // Without EVENT_IDX every signal would interrupt: one worker, four
  // requests held in flight, then released: one interrupt, after the last.
  BlkRig r(false, 1 << 20, VirtioBlkOptions{false, "", 1, 64}, true, kFRingEventIdx);
  r.header(kBlkTIn, 0);
  r.disk->close_gate();
  for (int i = 0; i < 4; i++) r.add_read();
  r.drv.kick(0);
  r.disk->open_gate();
  for (int i = 0; i < 4; i++) EXPECT_EQ(r.complete().second, kBlkSOk);
  r.blk->quiesce();
  EXPECT_EQ(r.msi.count(), 1u);
  // A lone request still interrupts at once.
  EXPECT_EQ(r.run(kBlkTFlush, 0, {}).second, kBlkSOk);
  r.blk->quiesce();
  EXPECT_EQ(r.msi.count(), 2u);
}

// Large transfers are not held back: each 512 KiB read interrupts when it
// completes, though others of the burst are still in flight, so a guest
// refills its queue while the device moves the rest.
TEST(VirtioBlk, LargeTransfersInterruptAsTheyComplete) {
  BlkRig r(false, 1 << 20, VirtioBlkOptions{false, "", 1, 64}, true, kFRingEventIdx);
  r.header(kBlkTIn, 0);
  r.disk->close_gate();
  for (int i = 0; i < 4; i++)
    r.drv.add(0, {Seg{testing::kHdr, 16, false}, Seg{kData, 512 * 1024, true}, Seg{testing::kStatus, 1, true}});
  r.drv.kick(0);
  r.disk->open_gate();
  for (int i = 0; i < 4; i++) EXPECT_EQ(r.complete().second, kBlkSOk);
  r.blk->quiesce();
  EXPECT_EQ(r.msi.count(), 4u);
}

// Requests the driver adds while one is in flight (without a notification,
// as EVENT_IDX lets it) are part of the same burst: the completion of the
// first does not interrupt, the last one's does.
TEST(VirtioBlk, RequestsAddedDuringABurstShareItsInterrupt) {
  BlkRig r(false, 1 << 20, VirtioBlkOptions{false, "", 1, 64}, true, kFRingEventIdx);
  r.header(kBlkTIn, 0);
  r.disk->close_gate();
  r.add_read();
  r.drv.kick(0);
  r.add_read();
  r.add_read();
  r.disk->open_gate();
  for (int i = 0; i < 3; i++) EXPECT_EQ(r.complete().second, kBlkSOk);
  r.blk->quiesce();
  EXPECT_EQ(r.msi.count(), 1u);
}

// Waits up to 2 s for the rig's interrupt count to reach n.
bool interrupts_reach(BlkRig& r, size_t n) {
  for (int i = 0; i < 2000 && r.msi.count() < n; i++) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  return r.msi.count() >= n;
}

// Two reads in flight at once (the disk gated until both are popped), both
// completed: the queue is deep.
void two_reads_at_once(BlkRig& r) {
  r.header(kBlkTIn, 0);
  r.disk->close_gate();
  r.add_read();
  r.add_read();
  r.drv.kick(0);
  r.disk->open_gate();
  for (int i = 0; i < 2; i++) EXPECT_EQ(r.complete().second, kBlkSOk);
}

// A queue that had two requests in flight hands the interrupt for its last
// completion to the loop, and what the driver adds before the loop gets to
// it shares that interrupt: 3 requests, 1 interrupt (without the hand-over:
// 2, one per burst).
TEST(VirtioBlk, ADeepQueueInterruptsThroughTheLoop) {
  EventLoop loop;  // not running yet: the handed-over interrupt waits
  std::thread t;
  {
    BlkRig r(false, 1 << 20, VirtioBlkOptions{false, "", 1, 64, 1, &loop}, true, kFRingEventIdx);
    two_reads_at_once(r);
    r.add_read();  // no kick: the loop's drain takes it
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    EXPECT_EQ(r.msi.count(), 0u);
    t = std::thread([&] { loop.run(); });
    EXPECT_EQ(r.complete().second, kBlkSOk);
    EXPECT_TRUE(interrupts_reach(r, 1));
    r.blk->quiesce();
    EXPECT_EQ(r.msi.count(), 1u);
    // INSULA_BLK_STATS's counters say so: one kick took two requests, the
    // third was taken without one, and the loop raised the one interrupt.
    VirtioBlkCounters c = r.blk->counters();
    EXPECT_EQ(c.kicks, 1u);
    EXPECT_EQ(c.popped, 3u);
    EXPECT_EQ(c.completion_pops + c.loop_pops, 1u);
    EXPECT_GE(c.handed, 1u);
    EXPECT_EQ(c.irq_loop, 1u);
    EXPECT_EQ(c.irq_done + c.irq_bytes, 0u);
    loop.stop();
    t.join();
  }
}

// One request at a time is answered at once, loop or not.
TEST(VirtioBlk, AQueueAtDepthOneInterruptsAtOnce) {
  EventLoop loop;  // never runs
  BlkRig r(false, 1 << 20, VirtioBlkOptions{false, "", 1, 64, 1, &loop}, true, kFRingEventIdx);
  for (size_t i = 1; i <= 3; i++) {
    r.header(kBlkTIn, 0);
    r.add_read();
    r.drv.kick(0);
    EXPECT_EQ(r.complete().second, kBlkSOk);
    EXPECT_TRUE(interrupts_reach(r, i)) << "request " << i;
  }
  VirtioBlkCounters c = r.blk->counters();
  EXPECT_EQ(c.popped, 3u);
  EXPECT_EQ(c.depth_sum, 3u);  // one in flight at each pop
  EXPECT_EQ(c.irq_done, 3u);
  EXPECT_EQ(c.handed, 0u);
}

// A snapshot quiesces the device while its loop is parked: an interrupt
// handed to the loop is raised then, or the restored guest would wait for it.
TEST(VirtioBlk, QuiesceRaisesAHandedOverInterrupt) {
  EventLoop loop;  // parked: never runs
  BlkRig r(false, 1 << 20, VirtioBlkOptions{false, "", 1, 64, 1, &loop}, true, kFRingEventIdx);
  two_reads_at_once(r);
  EXPECT_EQ(r.msi.count(), 0u);
  r.blk->quiesce();
  EXPECT_EQ(r.msi.count(), 1u);
}

// One operation per hour: the second request stays on the queue (no vCPU or
// thread waits for it) until the limit is lifted, as PATCH /drives does.
TEST(VirtioBlk, RateLimiterHoldsRequestsUntilTheLimitIsLifted) {
  EventLoop loop;
  std::thread t([&] { loop.run(); });
  {
    BlkRig r(false, 1 << 20, VirtioBlkOptions{false, "insula-disk-0", 2, 64, 1, &loop, RateLimiterConfig{{}, {1, 0, 3'600'000}}});
    EXPECT_EQ(r.run(kBlkTFlush, 0, {}).second, kBlkSOk);
    r.header(kBlkTFlush, 0);
    r.drv.add(0, {Seg{kHdr, 16, false}, Seg{kStatus, 1, true}});
    r.drv.kick(0);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    EXPECT_FALSE(r.drv.used(0).has_value()) << "a second request went past a one-op bucket";
    EXPECT_EQ(r.disk->flushes, 1);
    r.blk->set_rate_limiter({});
    EXPECT_EQ(r.complete().second, kBlkSOk);
    EXPECT_EQ(r.disk->flushes, 2);
  }
  loop.stop();
  t.join();
}

TEST(VirtioBlk, ReplacedDiskShowsItsCapacity) {
  BlkRig r;
  auto bigger = std::make_shared<testing::MemDisk>(2 << 20, false);
  r.blk->replace_disk(bigger);
  EXPECT_EQ(r.drv.r<uint64_t>(kDeviceCfgOffset), (2u << 20) / 512);
  for (int i = 0; i < 512; i++) r.ram.bytes[kData + i] = 0x5a;
  EXPECT_EQ(r.run(kBlkTOut, 3000, {Seg{kData, 512, false}}).second, kBlkSOk) << "a sector past the old end";
  EXPECT_EQ(bigger->data[3000 * 512], 0x5a);
}

// PATCH /drives under I/O: a request still in flight finishes on the old
// disk and the swap waits for it without deadlocking against the worker
// that completes it; requests queued during the swap go to the new disk.
TEST(VirtioBlk, DiskReplacedWhileARequestIsInFlight) {
  BlkRig r;
  r.header(kBlkTIn, 0);
  r.disk->close_gate();
  r.add_read();
  r.drv.kick(0);
  auto bigger = std::make_shared<testing::MemDisk>(2 << 20, false);
  std::thread swap([&] { r.blk->replace_disk(bigger); });
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  r.disk->open_gate();
  swap.join();
  EXPECT_EQ(r.complete().second, kBlkSOk);
  EXPECT_EQ(r.drv.r<uint64_t>(kDeviceCfgOffset), (2u << 20) / 512);
  for (int i = 0; i < 512; i++) r.ram.bytes[kData + i] = 0x6b;
  EXPECT_EQ(r.run(kBlkTOut, 3000, {Seg{kData, 512, false}}).second, kBlkSOk);
  EXPECT_EQ(bigger->data[3000 * 512], 0x6b);
}

}  // namespace
}  // namespace insula::virtio
