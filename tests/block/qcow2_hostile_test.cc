// Unit tests: hostile images give clean Errors, never crashes or hangs.
#include <gtest/gtest.h>

#include <fstream>

#include "base/error.h"
#include "block/file.h"
#include "block/qcow2.h"
#include "test_util.h"

namespace insula::block {
namespace {

using test::TempDir;

// Writes an 8-byte big-endian value into a file.
void poke64(const std::string& path, uint64_t off, uint64_t v) {
  ImageFile f = ImageFile::open(path, false);
  uint8_t b[8];
  qcow2::put64(b, v);
  f.write(off, b);
}
void poke32(const std::string& path, uint64_t off, uint32_t v) {
  ImageFile f = ImageFile::open(path, false);
  uint8_t b[4];
  qcow2::put32(b, v);
  f.write(off, b);
}

std::string make(const TempDir& dir, const std::string& name) {
  Qcow2CreateOptions o;
  o.size = 1 << 20;
  create_qcow2(dir / name, o);
  auto dev = open_image(dir / name);
  std::vector<uint8_t> d(65536, 0x5a);
  dev->write(0, d);
  return dir / name;
}

// Layout of a fresh 1 MiB image: header, reftable, refblock, L1 (cluster 3),
// then the L2 table (cluster 4) and data (cluster 5).
constexpr uint64_t kL1 = 3 * 65536, kL2 = 4 * 65536;

void expect_read_error(const std::string& path) {
  OpenOptions ro;
  ro.read_only = true;
  std::vector<uint8_t> buf(65536);
  EXPECT_THROW(
      {
        auto dev = open_image(path, ro);
        dev->read(0, buf);
      },
      Error);
}

TEST(Qcow2Hostile, L2EntryBeyondFile) {
  TempDir dir;
  auto p = make(dir, "a.qcow2");
  poke64(p, kL2, qcow2::kCopied | (1ULL << 40));
  expect_read_error(p);
}

TEST(Qcow2Hostile, L1EntryAtHeader) {
  TempDir dir;
  auto p = make(dir, "a.qcow2");
  poke64(p, kL1, qcow2::kCopied | 512);  // unaligned, near the header
  expect_read_error(p);
}

TEST(Qcow2Hostile, DataClusterOverHeaderRefusedOnWrite) {
  TempDir dir;
  auto p = make(dir, "a.qcow2");
  poke64(p, kL2, qcow2::kCopied | kL1);  // data "is" the L1 table
  auto dev = open_image(p);
  std::vector<uint8_t> d(512, 1);
  EXPECT_THROW(dev->write(0, d), Error);
}

TEST(Qcow2Hostile, UnknownIncompatibleFeatureRefused) {
  TempDir dir;
  auto p = make(dir, "a.qcow2");
  poke64(p, 72, 1ULL << 40);
  try {
    open_image(p);
    FAIL() << "opened";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("bit 40"), std::string::npos) << e.what();
  }
}

TEST(Qcow2Hostile, CorruptBitRefusesWriting) {
  TempDir dir;
  auto p = make(dir, "a.qcow2");
  poke64(p, 72, qcow2::kIncompatCorrupt);
  EXPECT_THROW(open_image(p), Error);
  OpenOptions ro;
  ro.read_only = true;
  EXPECT_NO_THROW(open_image(p, ro));
}

TEST(Qcow2Hostile, BackingLoop) {
  TempDir dir;
  Qcow2CreateOptions o;
  o.size = 1 << 20;
  o.backing_file = "b.qcow2";
  create_qcow2(dir / "a.qcow2", o);
  o.backing_file = "a.qcow2";
  create_qcow2(dir / "b.qcow2", o);
  try {
    open_image(dir / "a.qcow2");
    FAIL() << "opened";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("loop"), std::string::npos) << e.what();
  }
}

TEST(Qcow2Hostile, RefcountOverflowIsAnError) {
  TempDir dir;
  Qcow2CreateOptions o;
  o.size = 1 << 20;
  o.cluster_size = 512;
  o.refcount_bits = 1;
  create_qcow2(dir / "a.qcow2", o);
  ImageFile f = ImageFile::open(dir / "a.qcow2", false);
  auto h = qcow2::parse_header(std::vector<uint8_t>(512, 0).size() ? [&] {
    std::vector<uint8_t> b(512);
    f.read(0, b);
    return b;
  }() : std::vector<uint8_t>{}, f.size(), "a");
  qcow2::Refcounts rc(f, h);
  EXPECT_EQ(rc.get(0), 1u);
  EXPECT_THROW(rc.update(0, 1, 1), Error);
}

TEST(Qcow2Hostile, HugeL1SizeRefused) {
  TempDir dir;
  auto p = make(dir, "a.qcow2");
  poke32(p, 36, 0x10000000);
  expect_read_error(p);
}

TEST(Qcow2Hostile, CompressedGarbage) {
  TempDir dir;
  auto p = make(dir, "a.qcow2");
  uint32_t x = 62 - (16 - 8);
  poke64(p, kL2, qcow2::kCompressed | (3ULL << x) | (5 * 65536));  // data cluster is 0x5a bytes
  expect_read_error(p);
}

}  // namespace
}  // namespace insula::block
