// virtio-blk on a raw file opened O_DIRECT: aligned reads and writes go to
// io_uring; everything else, and any transfer the ring cannot finish, to the
// worker threads.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "base/event_loop.h"
#include "blk_rig.h"
#include "block/block_device.h"

namespace insula::virtio {
namespace {

using testing::BlkRig;
using testing::kData;
using testing::Seg;

constexpr uint64_t kDiskBytes = 1 << 20;

// A raw image filled with a pattern, in the working directory (the build
// tree: /tmp may be a tmpfs without O_DIRECT).
class RawFile {
 public:
  RawFile() {
    char tmpl[] = "insula-blk-ring-XXXXXX";
    int fd = ::mkstemp(tmpl);
    EXPECT_GE(fd, 0);
    path_ = tmpl;
    data_.resize(kDiskBytes);
    for (size_t i = 0; i < data_.size(); i++) data_[i] = uint8_t(i * 13 + i / 4096);
    EXPECT_EQ(::pwrite(fd, data_.data(), data_.size(), 0), ssize_t(data_.size()));
    ::close(fd);
  }
  ~RawFile() { ::unlink(path_.c_str()); }
  std::shared_ptr<block::BlockDevice> open_direct() const {
    block::OpenOptions o;
    o.format = "raw";
    o.cache = block::CacheMode::kDirect;
    return block::open_image(path_, o);
  }
  std::vector<uint8_t> read(uint64_t offset, size_t n) const {
    std::vector<uint8_t> out(n);
    int fd = ::open(path_.c_str(), O_RDONLY);
    EXPECT_EQ(::pread(fd, out.data(), n, off_t(offset)), ssize_t(n));
    ::close(fd);
    return out;
  }
  const std::string& path() const { return path_; }
  const std::vector<uint8_t>& data() const { return data_; }

 private:
  std::string path_;
  std::vector<uint8_t> data_;
};

VirtioBlkOptions options() { return VirtioBlkOptions{false, "ring", 2, 64}; }

TEST(VirtioBlkRing, AlignedReadsAndWritesGoThroughTheRing) {
  RawFile f;
  BlkRig r(f.open_direct(), options());
  ASSERT_TRUE(r.blk->uses_io_ring()) << "io_uring is not available here";
  // Read 8 KiB at sector 8 into two separate pages.
  auto [len, st] = r.run(kBlkTIn, 8, {Seg{kData + 0x3000, 4096, true}, Seg{kData, 4096, true}});
  EXPECT_EQ(st, kBlkSOk);
  EXPECT_EQ(len, 8193u);
  EXPECT_EQ(0, std::memcmp(&r.ram.bytes[kData + 0x3000], &f.data()[4096], 4096));
  EXPECT_EQ(0, std::memcmp(&r.ram.bytes[kData], &f.data()[8192], 4096));
  // Write 4 KiB at sector 16 and find it in the file.
  for (int i = 0; i < 4096; i++) r.ram.bytes[kData + 0x8000 + i] = uint8_t(0xc0 ^ i);
  auto [wlen, wst] = r.run(kBlkTOut, 16, {Seg{kData + 0x8000, 4096, false}});
  EXPECT_EQ(wst, kBlkSOk);
  EXPECT_EQ(wlen, 1u);
  EXPECT_EQ(0, std::memcmp(f.read(16 * 512, 4096).data(), &r.ram.bytes[kData + 0x8000], 4096));
  // A large transfer each way (one 256 KiB segment).
  constexpr uint64_t kBig = 256 * 1024;
  auto [blen, bst] = r.run(kBlkTIn, 64, {Seg{kData + 0x40000, kBig, true}});
  EXPECT_EQ(bst, kBlkSOk);
  EXPECT_EQ(blen, kBig + 1);
  EXPECT_EQ(0, std::memcmp(&r.ram.bytes[kData + 0x40000], &f.data()[64 * 512], kBig));
  EXPECT_EQ(r.run(kBlkTOut, 1024, {Seg{kData + 0x40000, kBig, false}}).second, kBlkSOk);
  EXPECT_EQ(0, std::memcmp(f.read(1024 * 512, kBig).data(), &f.data()[64 * 512], kBig));
  EXPECT_EQ(r.blk->ring_requests(), 4u);
  EXPECT_EQ(r.blk->save().requests, 4u);
}

TEST(VirtioBlkRing, UnalignedAndOtherRequestsGoToTheWorkers) {
  RawFile f;
  BlkRig r(f.open_direct(), options());
  ASSERT_TRUE(r.blk->uses_io_ring());
  // One sector, and a page-sized read at an offset that is not a page's.
  EXPECT_EQ(r.run(kBlkTIn, 1, {Seg{kData, 512, true}}).second, kBlkSOk);
  EXPECT_EQ(0, std::memcmp(&r.ram.bytes[kData], &f.data()[512], 512));
  EXPECT_EQ(r.run(kBlkTIn, 3, {Seg{kData, 4096, true}}).second, kBlkSOk);
  EXPECT_EQ(0, std::memcmp(&r.ram.bytes[kData], &f.data()[3 * 512], 4096));
  // A guest buffer that is not page-aligned.
  EXPECT_EQ(r.run(kBlkTIn, 8, {Seg{kData + 512, 4096, true}}).second, kBlkSOk);
  EXPECT_EQ(0, std::memcmp(&r.ram.bytes[kData + 512], &f.data()[4096], 4096));
  EXPECT_EQ(r.run(kBlkTFlush, 0, {}).second, kBlkSOk);
  // Past the end, and unaligned length: errors, as without the ring.
  EXPECT_EQ(r.run(kBlkTIn, kDiskBytes / 512, {Seg{kData, 4096, true}}).second, kBlkSIoErr);
  EXPECT_EQ(r.blk->ring_requests(), 0u);
  EXPECT_EQ(r.blk->save().requests, 5u);
}

TEST(VirtioBlkRing, ABurstOnTheRingRaisesOneInterrupt) {
  RawFile f;
  BlkRig r(f.open_direct(), options(), true);
  ASSERT_TRUE(r.blk->uses_io_ring());
  r.header(kBlkTIn, 8);
  for (int i = 0; i < 16; i++)
    r.drv.add(0, {Seg{testing::kHdr, 16, false}, Seg{kData + 0x1000ull * i, 4096, true}, Seg{testing::kStatus, 1, true}});
  r.drv.kick(0);
  for (int i = 0; i < 16; i++) EXPECT_EQ(r.complete().second, kBlkSOk);
  r.blk->quiesce();
  EXPECT_EQ(r.msi.count(), 1u);
  EXPECT_EQ(r.blk->ring_requests(), 16u);
  for (int i = 0; i < 16; i++) EXPECT_EQ(0, std::memcmp(&r.ram.bytes[kData + 0x1000ull * i], &f.data()[4096], 4096));
}

// A burst larger than one submission's worth (512 KiB): submitted in steps;
// what the disk finished inside a submit goes back before the rest is taken
// (from the completion). Every read lands whole, in order of the queue.
TEST(VirtioBlkRing, ABurstOfLargeReadsIsSubmittedInSteps) {
  RawFile f;
  BlkRig r(f.open_direct(), options(), true);
  ASSERT_TRUE(r.blk->uses_io_ring());
  constexpr uint64_t kBig = 128 * 1024, kAt = 0x40000;  // past the header and status
  r.header(kBlkTIn, 0);
  for (uint64_t i = 0; i < 6; i++)
    r.drv.add(0, {Seg{testing::kHdr, 16, false}, Seg{kAt + kBig * i, kBig, true}, Seg{testing::kStatus, 1, true}});
  r.drv.kick(0);
  for (int i = 0; i < 6; i++) EXPECT_EQ(r.complete().second, kBlkSOk);
  r.blk->quiesce();
  EXPECT_EQ(r.blk->ring_requests(), 6u);
  for (uint64_t i = 0; i < 6; i++) EXPECT_EQ(0, std::memcmp(&r.ram.bytes[kAt + kBig * i], f.data().data(), kBig)) << i;
  EXPECT_GE(r.msi.count(), 1u);
}

// The file shrinks under the disk (its size was taken at open): the ring's
// read comes back short, and the worker that retries it reads zeros there.
TEST(VirtioBlkRing, AShortTransferIsFinishedByAWorker) {
  RawFile f;
  BlkRig r(f.open_direct(), options());
  ASSERT_TRUE(r.blk->uses_io_ring());
  ASSERT_EQ(::truncate(f.path().c_str(), kDiskBytes - 4096), 0);
  std::memset(&r.ram.bytes[kData], 0x77, 8192);
  auto [len, st] = r.run(kBlkTIn, (kDiskBytes - 8192) / 512, {Seg{kData, 8192, true}});
  EXPECT_EQ(st, kBlkSOk);
  EXPECT_EQ(len, 8193u);
  EXPECT_EQ(0, std::memcmp(&r.ram.bytes[kData], &f.data()[kDiskBytes - 8192], 4096));
  EXPECT_EQ(r.ram.bytes[kData + 4096], 0);
  EXPECT_EQ(r.ram.bytes[kData + 8191], 0);
  EXPECT_EQ(r.blk->ring_requests(), 0u);
  EXPECT_EQ(r.blk->save().requests, 1u);
}

TEST(VirtioBlkRing, ResetWaitsForRingRequests) {
  RawFile f;
  BlkRig r(f.open_direct(), options());
  ASSERT_TRUE(r.blk->uses_io_ring());
  r.header(kBlkTIn, 0);
  for (int i = 0; i < 20; i++) r.add_read();
  r.drv.kick(0);
  r.drv.w<uint8_t>(20, 0);  // reset returns once no request is left
  EXPECT_EQ(r.drv.status(), 0);
  EXPECT_EQ(r.blk->save().requests, 20u);
  EXPECT_EQ(r.blk->ring_requests(), 20u);
}

// As the machine builds it: completions reaped on the device loop. A reset
// after the loop stopped reaps the ring itself.
TEST(VirtioBlkRing, CompletionsOnTheLoopAndResetWithoutIt) {
  RawFile f;
  EventLoop loop;
  std::thread t([&] { loop.run(); });
  VirtioBlkOptions o = options();
  o.loop = &loop;
  BlkRig r(f.open_direct(), o, true);
  ASSERT_TRUE(r.blk->uses_io_ring());
  for (int i = 0; i < 4096; i++) r.ram.bytes[kData + 0x8000 + i] = uint8_t(i * 3);
  EXPECT_EQ(r.run(kBlkTOut, 24, {Seg{kData + 0x8000, 4096, false}}).second, kBlkSOk);
  EXPECT_EQ(0, std::memcmp(f.read(24 * 512, 4096).data(), &r.ram.bytes[kData + 0x8000], 4096));
  EXPECT_EQ(r.run(kBlkTIn, 8, {Seg{kData, 8192, true}}).second, kBlkSOk);
  EXPECT_EQ(0, std::memcmp(&r.ram.bytes[kData], &f.data()[4096], 8192));
  EXPECT_EQ(r.blk->ring_requests(), 2u);
  loop.stop();
  t.join();
  r.header(kBlkTIn, 0);
  for (int i = 0; i < 20; i++) r.add_read();
  r.drv.kick(0);  // the fake driver notifies directly, not through the loop
  r.drv.w<uint8_t>(20, 0);
  EXPECT_EQ(r.drv.status(), 0);
  EXPECT_EQ(r.blk->ring_requests(), 22u);
}

TEST(VirtioBlkRing, OffWhenAskedOrWithoutODirect) {
  RawFile f;
  VirtioBlkOptions o = options();
  o.io_ring = false;
  BlkRig off(f.open_direct(), o);
  EXPECT_FALSE(off.blk->uses_io_ring());
  EXPECT_EQ(off.run(kBlkTIn, 8, {Seg{kData, 4096, true}}).second, kBlkSOk);
  EXPECT_EQ(off.blk->ring_requests(), 0u);
  BlkRig cached(block::open_image(f.path()), options());
  EXPECT_FALSE(cached.blk->uses_io_ring());
  // A direct disk swapped in gets the ring; one swapped out leaves it idle.
  cached.blk->replace_disk(f.open_direct());
  EXPECT_TRUE(cached.blk->uses_io_ring());
  EXPECT_EQ(cached.run(kBlkTIn, 8, {Seg{kData, 4096, true}}).second, kBlkSOk);
  EXPECT_EQ(cached.blk->ring_requests(), 1u);
  cached.blk->replace_disk(std::make_shared<testing::MemDisk>(kDiskBytes));
  EXPECT_FALSE(cached.blk->uses_io_ring());
}

}  // namespace
}  // namespace insula::virtio
