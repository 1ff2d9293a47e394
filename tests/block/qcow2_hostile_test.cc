// Unit tests: hostile images give clean Errors, never crashes or hangs.
#include <gtest/gtest.h>

#include <filesystem>
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

uint64_t peek64(const std::string& path, uint64_t off) {
  ImageFile f = ImageFile::open(path, true);
  uint8_t b[8];
  f.read(off, b);
  return qcow2::be64(b);
}

// A 1 GiB image (two L2 tables) with its first cluster written (0x5a), and
// the end of its file in whole clusters.
std::string make_two_tables(const TempDir& dir, uint64_t& end) {
  Qcow2CreateOptions o;
  o.size = 1 << 30;
  create_qcow2(dir / "a.qcow2", o);
  open_image(dir / "a.qcow2")->write(0, std::vector<uint8_t>(65536, 0x5a));
  end = (std::filesystem::file_size(dir / "a.qcow2") + 65535) / 65536 * 65536;
  return dir / "a.qcow2";
}

constexpr uint64_t kHalf = 512 << 20;  // the first byte the second L2 table maps

// Writes clusters 2..2+n of the first table, each filled with its own byte,
// and checks that they read back so.
void write_clusters(BlockDevice& dev, uint64_t n) {
  for (uint64_t c = 2; c < 2 + n; ++c) dev.write(c * 65536, std::vector<uint8_t>(65536, uint8_t(c)));
}
void expect_clusters(BlockDevice& dev, uint64_t n) {
  std::vector<uint8_t> back(65536);
  for (uint64_t c = 2; c < 2 + n; ++c) {
    dev.read(c * 65536, back);
    EXPECT_EQ(back, std::vector<uint8_t>(65536, uint8_t(c))) << "cluster " << c;
  }
}

// A 1 GiB image whose second L2 table maps one cluster (0x77); returns that
// table's offset.
uint64_t add_second_table(const std::string& p) {
  open_image(p)->write(kHalf, std::vector<uint8_t>(65536, 0x77));
  return peek64(p, peek64(p, 40) + 8) & qcow2::kOffsetMask;
}

// Points guest cluster kHalf + 64 KiB (the second table) at the end of the
// file - after making the file `grow` bytes longer, so that the cluster is
// free space inside it when grow > 0 - writes n clusters through the first
// table, whose allocations reach that cluster, then a block through the
// hostile entry: that write must fail, and the n clusters stay intact.
void expect_hostile_entry_refused(uint64_t grow, uint64_t n) {
  TempDir dir;
  uint64_t end = 0;
  auto p = make_two_tables(dir, end);
  uint64_t second_l2 = add_second_table(p);
  end = (std::filesystem::file_size(p) + 65535) / 65536 * 65536;
  if (grow) std::filesystem::resize_file(p, end + grow);
  poke64(p, second_l2 + 8, qcow2::kCopied | end);
  auto dev = open_image(p);
  write_clusters(*dev, n);
  EXPECT_THROW(dev->write(kHalf + 65536, std::vector<uint8_t>(65536, 0xb1)), Error);
  expect_clusters(*dev, n);
}

// An L2 entry pointing just past the end of the file stays corrupt when the
// file grows past it (160 clusters: past the up to 4 MiB zeroed ahead):
// else a write through it would land on a cluster allocated since for other
// data.
TEST(Qcow2Hostile, L2EntryPastTheEndNeverAliasesNewData) { expect_hostile_entry_refused(0, 160); }

// The same for an entry pointing at a free cluster inside the file (1 MiB
// of free space: the next allocation takes its first cluster).
TEST(Qcow2Hostile, L2EntryAtAFreeClusterNeverAliasesNewData) { expect_hostile_entry_refused(1 << 20, 4); }

// The same for an L1 entry: the cluster allocated at the old end holds guest
// data, which must not be taken for an L2 table (here one whose entry points
// at the real L2 table, so a write would wipe it).
TEST(Qcow2Hostile, L1EntryPastTheEndNeverBecomesATable) {
  TempDir dir;
  uint64_t end = 0;
  auto p = make_two_tables(dir, end);
  uint64_t l1 = peek64(p, 40);
  uint64_t first_l2 = peek64(p, l1) & qcow2::kOffsetMask;
  poke64(p, l1 + 8, qcow2::kCopied | end);
  auto dev = open_image(p);
  std::vector<uint8_t> fake(65536);
  for (size_t i = 0; i < fake.size(); i += 8) qcow2::put64(&fake[i], qcow2::kCopied | first_l2);
  dev->write(2 * 65536, fake);  // allocated at `end`
  EXPECT_THROW(dev->write(kHalf, std::vector<uint8_t>(65536, 0)), Error);
  dev.reset();  // the first table as the file holds it
  std::vector<uint8_t> back(65536);
  open_image(p)->read(0, back);
  EXPECT_EQ(back, std::vector<uint8_t>(65536, 0x5a));
}

}  // namespace
}  // namespace insula::block
