// `insula img bench`'s engines: the io_uring path must issue every request at
// its offset (checked through the file's contents), and refuse the images and
// requests it cannot serve; the automatic choice falls back to threads there.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "base/error.h"
#include "block/image_bench.h"
#include "block/qcow2.h"
#include "block/raw.h"
#include "test_util.h"

namespace insula::block {
namespace {

using test::TempDir;
using Engine = BenchRequest::Engine;

BenchRequest direct_write(const std::string& path, Engine engine) {
  BenchRequest r;
  r.path = path;
  r.format = "raw";
  r.cache = CacheMode::kDirect;
  r.write = true;
  r.count = 300;  // more than the depth: slots are reused
  r.depth = 8;
  r.size = 4096;
  r.step = 8192;  // every other block, so a misplaced request shows
  r.offset = 8192;
  r.pattern = 0x5a;
  r.engine = engine;
  return r;
}

// Block i of the 4 MiB disk must hold the pattern exactly where the bench
// wrote: blocks 2, 4, ..., 600.
void expect_written_blocks(const std::string& path, uint8_t pattern) {
  auto disk = open_image(path);
  std::vector<uint8_t> block(4096);
  for (uint64_t b = 0; b < 1024; ++b) {
    disk->read(b * 4096, block);
    bool written = b >= 2 && b <= 600 && b % 2 == 0;
    uint8_t want = written ? pattern : 0;
    for (uint8_t byte : block) ASSERT_EQ(byte, want) << "block " << b;
  }
}

TEST(ImageBench, IoUringWritesEveryRequestAtItsOffset) {
  TempDir dir;
  create_raw(dir / "d.raw", 4 << 20);
  run_bench(direct_write(dir / "d.raw", Engine::kIoUring));
  expect_written_blocks(dir / "d.raw", 0x5a);
  // Reading it back through the ring (deeper than the request count) works.
  BenchRequest r = direct_write(dir / "d.raw", Engine::kIoUring);
  r.write = false;
  r.depth = 1024;
  EXPECT_GT(run_bench(r), 0.0);
  r.count = 0;  // nothing to do is no error
  EXPECT_GE(run_bench(r), 0.0);
}

TEST(ImageBench, ThreadsWriteTheSame) {
  TempDir dir;
  create_raw(dir / "d.raw", 4 << 20);
  run_bench(direct_write(dir / "d.raw", Engine::kThreads));
  expect_written_blocks(dir / "d.raw", 0x5a);
}

TEST(ImageBench, IoUringRefusesWhatItCannotServe) {
  TempDir dir;
  create_raw(dir / "d.raw", 4 << 20);
  Qcow2CreateOptions o;
  o.size = 4 << 20;
  create_qcow2(dir / "d.qcow2", o);
  auto refused = [](BenchRequest r, const std::string& why) {
    try {
      run_bench(r);
      ADD_FAILURE() << "accepted; expected: " << why;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(why), std::string::npos) << e.what();
    }
  };
  BenchRequest r = direct_write(dir / "d.qcow2", Engine::kIoUring);
  r.format = "qcow2";
  refused(r, "not a raw file opened with cache none");
  r = direct_write(dir / "d.raw", Engine::kIoUring);
  r.cache = CacheMode::kWriteback;
  refused(r, "not a raw file opened with cache none");
  r = direct_write(dir / "d.raw", Engine::kIoUring);
  r.size = r.step = 512;
  refused(r, "multiples of 4096");
  r = direct_write(dir / "d.raw", Engine::kIoUring);
  r.flush_interval = 10;
  refused(r, "flush interval");
  r = direct_write(dir / "d.raw", Engine::kIoUring);
  create_raw(dir / "big.raw", 4ull << 30);  // sparse; refused before any I/O
  r.path = dir / "big.raw";
  r.size = r.step = 2ull << 30;
  r.offset = 0;
  r.count = 1;
  refused(r, "larger than 1 GiB");
  // Wrapping at the end of the disk: the span (disk - size + 1) is not
  // aligned, so wrapped offsets would not be.
  r = direct_write(dir / "d.raw", Engine::kIoUring);
  r.count = 1000;
  refused(r, "multiples of 4096");
}

TEST(ImageBench, AutomaticFallsBackToThreads) {
  TempDir dir;
  create_raw(dir / "d.raw", 4 << 20);
  BenchRequest r = direct_write(dir / "d.raw", Engine::kAuto);
  r.flush_interval = 7;  // the ring cannot flush: threads serve it
  run_bench(r);
  expect_written_blocks(dir / "d.raw", 0x5a);
  r = direct_write(dir / "d.raw", Engine::kAuto);
  r.count = 1000;  // wraps: threads, with the raw driver's unaligned path
  r.pattern = 0x33;
  EXPECT_GT(run_bench(r), 0.0);
}

}  // namespace
}  // namespace insula::block
