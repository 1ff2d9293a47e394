// Split-ring parsing: good chains, indirect tables, EVENT_IDX, and the
// hostile cases that must end in an error, never a crash or a hang.
#include <gtest/gtest.h>

#include <cstring>

#include "devices/virtio/virtqueue.h"
#include "fakes.h"

namespace insula::virtio {
namespace {

constexpr uint64_t kDesc = 0x1000, kAvail = 0x2000, kUsed = 0x3000, kData = 0x8000;

class VirtqueueTest : public ::testing::Test {
 protected:
  VirtqueueTest() : ram(0x20000), vq(16) {
    vq.size = 16;
    vq.desc_addr = kDesc;
    vq.avail_addr = kAvail;
    vq.used_addr = kUsed;
    vq.ready = true;
  }
  void desc(uint64_t table, uint16_t i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next = 0) {
    uint8_t d[16];
    std::memcpy(d, &addr, 8);
    std::memcpy(d + 8, &len, 4);
    std::memcpy(d + 12, &flags, 2);
    std::memcpy(d + 14, &next, 2);
    ram.mem.write(table + 16ull * i, d, 16);
  }
  void avail(uint16_t head) {
    ram.mem.write_obj(kAvail + 4 + 2ull * (avail_idx % 16), head);
    avail_idx++;
    ram.mem.write_obj(kAvail + 2, avail_idx);
  }
  Virtqueue::Pop pop() { return vq.pop(ram.mem, chain, why); }

  testing::FakeRam ram;
  Virtqueue vq;
  DescChain chain;
  std::string why;
  uint16_t avail_idx = 0;
};

TEST_F(VirtqueueTest, ChecksConfiguration) {
  EXPECT_TRUE(vq.check(ram.mem, why)) << why;
  vq.size = 12;
  EXPECT_FALSE(vq.check(ram.mem, why));
  vq.size = 32;  // above max
  EXPECT_FALSE(vq.check(ram.mem, why));
  vq.size = 16;
  vq.used_addr = 0x1ffff0;
  EXPECT_FALSE(vq.check(ram.mem, why));
  vq.used_addr = kUsed + 2;
  EXPECT_FALSE(vq.check(ram.mem, why));
}

TEST_F(VirtqueueTest, PopsAChainSplitByDirection) {
  EXPECT_EQ(pop(), Virtqueue::Pop::kEmpty);
  desc(kDesc, 3, kData, 16, kDescNext, 7);
  desc(kDesc, 7, kData + 16, 100, kDescNext | kDescWrite, 1);
  desc(kDesc, 1, kData + 200, 1, kDescWrite);
  avail(3);
  ASSERT_EQ(pop(), Virtqueue::Pop::kChain) << why;
  EXPECT_EQ(chain.head, 3);
  ASSERT_EQ(chain.readable.size(), 1u);
  ASSERT_EQ(chain.writable.size(), 2u);
  EXPECT_EQ(chain.readable_len, 16u);
  EXPECT_EQ(chain.writable_len, 101u);
  EXPECT_EQ(pop(), Virtqueue::Pop::kEmpty);
  ASSERT_TRUE(vq.add_used(ram.mem, 3, 101));
  uint16_t used_idx;
  uint32_t elem[2];
  ram.mem.read_obj(kUsed + 2, used_idx);
  ram.mem.read(kUsed + 4, elem, 8);
  EXPECT_EQ(used_idx, 1);
  EXPECT_EQ(elem[0], 3u);
  EXPECT_EQ(elem[1], 101u);
  EXPECT_TRUE(vq.needs_interrupt(ram.mem));
  uint16_t no_irq = kAvailNoInterrupt;
  ram.mem.write_obj(kAvail, no_irq);
  EXPECT_FALSE(vq.needs_interrupt(ram.mem));
}

// The hang dump's line: the device's indices beside the guest's, read from
// its memory; a field outside guest memory shows as "?", not a crash.
TEST_F(VirtqueueTest, DescribeShowsBothSides) {
  Virtqueue idle(16);
  EXPECT_EQ(idle.describe(ram.mem), "not ready");
  desc(kDesc, 0, kData, 16, 0);
  avail(0);
  avail(0);
  ASSERT_EQ(pop(), Virtqueue::Pop::kChain) << why;
  ASSERT_TRUE(vq.add_used(ram.mem, 0, 0));
  EXPECT_EQ(vq.describe(ram.mem),
            "size 16, device: last_avail 1 next_used 1 signalled_used 0 (none yet); guest: avail.idx 2 used.idx 1 "
            "avail.flags 0 used_event 0 avail_event 0 (no EVENT_IDX)");
  vq.used_addr = 0x100000;  // past the end of guest memory
  std::string d = vq.describe(ram.mem);
  EXPECT_NE(d.find("used.idx ? "), std::string::npos) << d;
  EXPECT_NE(d.find("avail_event ? "), std::string::npos) << d;
}

TEST_F(VirtqueueTest, IndirectTable) {
  constexpr uint64_t kTable = 0x5000;
  desc(kTable, 0, kData, 8, kDescNext, 1);
  desc(kTable, 1, kData + 8, 8, kDescNext, 2);
  desc(kTable, 2, kData + 16, 8, kDescWrite);
  desc(kDesc, 0, kTable, 48, kDescIndirect);
  avail(0);
  ASSERT_EQ(pop(), Virtqueue::Pop::kChain) << why;
  EXPECT_EQ(chain.readable.size(), 2u);
  EXPECT_EQ(chain.writable.size(), 1u);
}

TEST_F(VirtqueueTest, DescriptorLoopIsAnError) {
  desc(kDesc, 0, kData, 8, kDescNext, 1);
  desc(kDesc, 1, kData, 8, kDescNext, 0);
  avail(0);
  EXPECT_EQ(pop(), Virtqueue::Pop::kError);
  EXPECT_NE(why.find("loop"), std::string::npos) << why;
  EXPECT_TRUE(vq.broken());
  EXPECT_EQ(pop(), Virtqueue::Pop::kEmpty);  // silent until reset
  vq.reset();
  EXPECT_FALSE(vq.broken());
}

TEST_F(VirtqueueTest, BufferOutsideMemoryIsAnError) {
  desc(kDesc, 0, 0x1fff0, 0x20, 0);
  avail(0);
  EXPECT_EQ(pop(), Virtqueue::Pop::kError);
}

TEST_F(VirtqueueTest, AddressOverflowIsAnError) {
  desc(kDesc, 0, ~0ull - 4, 0x20, 0);
  avail(0);
  EXPECT_EQ(pop(), Virtqueue::Pop::kError);
}

TEST_F(VirtqueueTest, HeadOutOfRangeIsAnError) {
  avail(16);
  EXPECT_EQ(pop(), Virtqueue::Pop::kError);
}

TEST_F(VirtqueueTest, NextOutOfRangeIsAnError) {
  desc(kDesc, 0, kData, 8, kDescNext, 200);
  avail(0);
  EXPECT_EQ(pop(), Virtqueue::Pop::kError);
}

TEST_F(VirtqueueTest, AvailIndexRunningAheadIsAnError) {
  uint16_t idx = 17;
  ram.mem.write_obj(kAvail + 2, idx);
  EXPECT_EQ(pop(), Virtqueue::Pop::kError);
}

TEST_F(VirtqueueTest, ReadableAfterWritableIsAnError) {
  desc(kDesc, 0, kData, 8, kDescNext | kDescWrite, 1);
  desc(kDesc, 1, kData, 8, 0);
  avail(0);
  EXPECT_EQ(pop(), Virtqueue::Pop::kError);
}

TEST_F(VirtqueueTest, NestedIndirectIsAnError) {
  desc(0x5000, 0, 0x6000, 16, kDescIndirect);
  desc(kDesc, 0, 0x5000, 16, kDescIndirect);
  avail(0);
  EXPECT_EQ(pop(), Virtqueue::Pop::kError);
}

TEST_F(VirtqueueTest, BadIndirectLengthIsAnError) {
  desc(kDesc, 0, 0x5000, 24, kDescIndirect);
  avail(0);
  EXPECT_EQ(pop(), Virtqueue::Pop::kError);
}

TEST_F(VirtqueueTest, IndirectLoopIsAnError) {
  desc(0x5000, 0, kData, 8, kDescNext, 1);
  desc(0x5000, 1, kData, 8, kDescNext, 0);
  desc(kDesc, 0, 0x5000, 32, kDescIndirect);
  avail(0);
  EXPECT_EQ(pop(), Virtqueue::Pop::kError);
}

TEST_F(VirtqueueTest, EventIdxSuppressesAndPublishes) {
  vq.set_event_idx(true);
  for (uint16_t i = 0; i < 3; i++) {
    desc(kDesc, i, kData, 8, kDescWrite);
    avail(i);
  }
  ASSERT_EQ(pop(), Virtqueue::Pop::kChain);
  uint16_t avail_event = 0;
  ram.mem.read_obj(kUsed + 4 + 8 * 16, avail_event);
  EXPECT_EQ(avail_event, 1);
  ASSERT_EQ(pop(), Virtqueue::Pop::kChain);
  ASSERT_EQ(pop(), Virtqueue::Pop::kChain);
  EXPECT_EQ(pop(), Virtqueue::Pop::kEmpty);
  ram.mem.read_obj(kUsed + 4 + 8 * 16, avail_event);
  EXPECT_EQ(avail_event, 3);
  // Driver wants an interrupt only once used idx passes 2.
  uint16_t used_event = 2;
  ram.mem.write_obj(kAvail + 4 + 2 * 16, used_event);
  vq.add_used(ram.mem, 0, 0);
  EXPECT_TRUE(vq.needs_interrupt(ram.mem));  // first signal always goes
  vq.add_used(ram.mem, 1, 0);
  EXPECT_FALSE(vq.needs_interrupt(ram.mem));  // used idx 2: event 2 not passed
  vq.add_used(ram.mem, 2, 0);
  EXPECT_TRUE(vq.needs_interrupt(ram.mem));  // used idx 3 crosses used_event 2
}

TEST_F(VirtqueueTest, UnarmedPopLeavesAvailEventBehind) {
  vq.set_event_idx(true);
  for (uint16_t i = 0; i < 3; i++) {
    desc(kDesc, i, kData, 8, kDescWrite);
    avail(i);
  }
  auto avail_event = [&] {
    uint16_t v = 0;
    ram.mem.read_obj(kUsed + 4 + 8 * 16, v);
    return v;
  };
  DescChain c;
  std::string why;
  ASSERT_EQ(vq.pop(ram.mem, c, why, true), Virtqueue::Pop::kChain);
  EXPECT_EQ(avail_event(), 1);
  ASSERT_EQ(vq.pop(ram.mem, c, why, false), Virtqueue::Pop::kChain);
  ASSERT_EQ(vq.pop(ram.mem, c, why, false), Virtqueue::Pop::kChain);
  EXPECT_EQ(vq.pop(ram.mem, c, why, false), Virtqueue::Pop::kEmpty);
  EXPECT_EQ(avail_event(), 1);  // neither popping nor finding it empty published
  EXPECT_EQ(vq.pop(ram.mem, c, why, true), Virtqueue::Pop::kEmpty);
  EXPECT_EQ(avail_event(), 3);  // armed: caught up
}

TEST_F(VirtqueueTest, ChainReaderAndWriterCrossBuffers) {
  std::vector<Buffer> bufs{{kData, 3}, {kData + 100, 5}};
  const char msg[] = "abcdefgh";
  ChainWriter w(ram.mem, bufs);
  EXPECT_EQ(w.write(msg, 10), 8u);
  EXPECT_EQ(w.remaining(), 0u);
  ChainReader r(ram.mem, bufs);
  char back[9] = {};
  EXPECT_EQ(r.read(back, 2), 2u);
  EXPECT_EQ(r.remaining(), 6u);
  EXPECT_EQ(r.read(back + 2, 20), 6u);
  EXPECT_STREQ(back, "abcdefgh");
}

}  // namespace
}  // namespace insula::virtio
