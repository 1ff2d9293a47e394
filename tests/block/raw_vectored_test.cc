// Vectored reads and writes (BlockDevice::readv/writev, ImageFile::readv/writev):
// what virtio-blk uses to move a request's guest segments in one system call.
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <memory>
#include <span>
#include <vector>

#include "base/error.h"
#include "block/file.h"
#include "block/raw.h"
#include "test_util.h"

namespace insula::block {
namespace {

using test::random_bytes;
using test::TempDir;

std::vector<std::span<uint8_t>> split(std::vector<uint8_t>& v, std::initializer_list<size_t> sizes) {
  std::vector<std::span<uint8_t>> out;
  size_t at = 0;
  for (size_t n : sizes) {
    out.emplace_back(v.data() + at, n);
    at += n;
  }
  return out;
}

TEST(RawVectored, WritevThenReadAndReadv) {
  TempDir dir;
  create_raw(dir / "d.raw", 1 << 20);
  auto disk = open_image(dir / "d.raw");
  auto data = random_bytes(4096 + 100 + 8000, 1);
  disk->writev(512, split(data, {4096, 100, 8000}));
  std::vector<uint8_t> back(data.size());
  disk->read(512, back);
  EXPECT_EQ(back, data);
  std::vector<uint8_t> back2(data.size());
  disk->readv(512, split(back2, {1, 9000, 3195}));
  EXPECT_EQ(back2, data);
  // Out of range as a whole: refused, like read/write.
  std::vector<uint8_t> big(8192);
  EXPECT_THROW(disk->readv((1 << 20) - 4096, split(big, {4096, 4096})), Error);
}

TEST(RawVectored, ReadvPastEndOfFileGivesZeros) {
  TempDir dir;
  auto data = random_bytes(1000, 2);
  {
    auto f = ImageFile::create(dir / "short");
    f.write(0, data);
  }
  auto f = ImageFile::open(dir / "short", false);
  std::vector<uint8_t> buf(3000, 0xee);
  f.readv(0, split(buf, {700, 2300}));
  EXPECT_TRUE(std::equal(data.begin(), data.end(), buf.begin()));
  for (size_t i = 1000; i < buf.size(); i++) ASSERT_EQ(buf[i], 0) << i;
}

TEST(RawVectored, DirectAlignedAndUnalignedSegments) {
  TempDir dir;
  create_raw(dir / "d.raw", 1 << 20);
  ImageFile f;
  try {
    f = ImageFile::open(dir / "d.raw", false, true);
  } catch (const Error&) {
    GTEST_SKIP() << "O_DIRECT is not supported on " << dir.path();
  }
  std::unique_ptr<uint8_t, decltype(&std::free)> mem(static_cast<uint8_t*>(std::aligned_alloc(4096, 3 * 4096)), &std::free);
  auto data = random_bytes(3 * 4096, 3);
  std::memcpy(mem.get(), data.data(), data.size());
  // Aligned segments take the O_DIRECT descriptor, an unaligned one the cached one.
  std::vector<std::span<uint8_t>> aligned{{mem.get(), 4096}, {mem.get() + 4096, 8192}};
  f.writev(8192, aligned);
  std::vector<std::span<uint8_t>> odd{{mem.get() + 1, 100}};
  f.writev(3, odd);
  std::vector<uint8_t> back(3 * 4096);
  f.read(8192, back);
  EXPECT_EQ(back, data);
  std::vector<uint8_t> head(100);
  f.read(3, head);
  EXPECT_EQ(0, std::memcmp(head.data(), data.data() + 1, 100));
}

}  // namespace
}  // namespace insula::block
