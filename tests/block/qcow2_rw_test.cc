// Unit tests: qcow2 reads/writes against an in-memory model, for every
// version, many cluster sizes and refcount widths; refcount growth; backing
// files; zeroing/discard; threads; and check() staying clean throughout.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <fstream>
#include <thread>

#include "block/image_ops.h"
#include "block/qcow2.h"
#include "test_util.h"

namespace insula::block {
namespace {

using test::random_bytes;
using test::TempDir;

struct Config {
  uint32_t version;
  uint64_t cluster;
  uint32_t refbits;
};

class Qcow2Model : public ::testing::TestWithParam<Config> {};

void expect_clean(const std::string& path) {
  OpenOptions o;
  o.read_only = true;
  auto dev = open_image(path, o);
  auto* q = dynamic_cast<Qcow2Image*>(dev.get());
  ASSERT_NE(q, nullptr);
  CheckResult r = q->check(RepairMode::kNone);
  for (const auto& m : r.messages) ADD_FAILURE() << m;
  EXPECT_EQ(r.corruptions, 0u);
  EXPECT_EQ(r.leaks, 0u);
}

TEST_P(Qcow2Model, RandomWritesMatchModel) {
  const Config c = GetParam();
  TempDir dir;
  const uint64_t size = 6 << 20;
  Qcow2CreateOptions o;
  o.size = size;
  o.cluster_size = c.cluster;
  o.version = c.version;
  o.refcount_bits = c.refbits;
  create_qcow2(dir / "a.qcow2", o);
  std::vector<uint8_t> model(size, 0);
  std::mt19937_64 rng(c.cluster * 131 + c.refbits + c.version);
  {
    auto dev = open_image(dir / "a.qcow2");
    for (int i = 0; i < 300; ++i) {
      uint64_t len = 1 + rng() % (3 * c.cluster + 1000);
      uint64_t off = rng() % (size - len);
      int op = static_cast<int>(rng() % 10);
      if (op < 7) {
        auto data = random_bytes(len, rng());
        dev->write(off, data);
        std::memcpy(&model[off], data.data(), len);
      } else if (op < 9) {
        dev->write_zeroes(off, len, true);
        std::memset(&model[off], 0, len);
      } else {
        // discard without backing: whole clusters read as zeros afterwards
        dev->discard(off, len);
        uint64_t a = (off + c.cluster - 1) / c.cluster * c.cluster, b = (off + len) / c.cluster * c.cluster;
        if (a < b) std::memset(&model[a], 0, b - a);
      }
    }
    dev->flush();
    std::vector<uint8_t> got(size);
    dev->read(0, got);
    ASSERT_TRUE(got == model);
  }
  expect_clean(dir / "a.qcow2");
  OpenOptions ro;
  ro.read_only = true;
  auto dev = open_image(dir / "a.qcow2", ro);
  std::vector<uint8_t> got(size);
  dev->read(0, got);
  EXPECT_TRUE(got == model) << "contents changed after reopening";
}

INSTANTIATE_TEST_SUITE_P(Formats, Qcow2Model,
                         ::testing::Values(Config{3, 65536, 16}, Config{2, 65536, 16}, Config{3, 512, 16},
                                           Config{3, 512, 1}, Config{3, 512, 64}, Config{3, 4096, 2},
                                           Config{3, 4096, 4}, Config{3, 4096, 8}, Config{3, 1024, 32},
                                           Config{2, 512, 16}, Config{3, 2 << 20, 16}),
                         [](const auto& info) {
                           return fmt::format("v{}_c{}_r{}", info.param.version, info.param.cluster, info.param.refbits);
                         });

TEST(Qcow2, RefcountTableGrows) {
  // 512-byte clusters with 64-bit refcounts: one block covers 64 clusters and
  // the first table 64 blocks (2 MiB); writing 8 MiB must grow the table.
  TempDir dir;
  Qcow2CreateOptions o;
  o.size = 16 << 20;
  o.cluster_size = 512;
  o.refcount_bits = 64;
  create_qcow2(dir / "g.qcow2", o);
  auto data = random_bytes(8 << 20, 7);
  {
    auto dev = open_image(dir / "g.qcow2");
    for (uint64_t off = 0; off < data.size(); off += 65536) dev->write(off, std::span(data).subspan(off, 65536));
  }
  expect_clean(dir / "g.qcow2");
  OpenOptions ro;
  ro.read_only = true;
  auto dev = open_image(dir / "g.qcow2", ro);
  std::vector<uint8_t> got(data.size());
  dev->read(0, got);
  EXPECT_TRUE(got == data);
  auto* q = dynamic_cast<Qcow2Image*>(dev.get());
  EXPECT_GT(q->header().refcount_table_offset, 512u);
}

TEST(Qcow2, BackingChainRelativeAndShort) {
  TempDir dir;
  // A 1 MiB raw base under a 4 MiB overlay: reads past the base are zeros.
  auto base = random_bytes(1 << 20, 3);
  {
    std::ofstream f(dir / "base.raw", std::ios::binary);
    f.write(reinterpret_cast<const char*>(base.data()), static_cast<std::streamsize>(base.size()));
  }
  Qcow2CreateOptions o;
  o.size = 4 << 20;
  o.backing_file = "base.raw";  // relative to the overlay's folder
  o.backing_format = "raw";
  create_qcow2(dir / "top.qcow2", o);
  auto dev = open_image(dir / "top.qcow2");
  std::vector<uint8_t> model(4 << 20, 0);
  std::memcpy(model.data(), base.data(), base.size());
  auto patch = random_bytes(5000, 9);
  dev->write(1000, patch);  // partial clusters: copy-on-write from the base
  std::memcpy(&model[1000], patch.data(), patch.size());
  dev->write_zeroes(65536, 65536, true);  // zero flag hides the base
  std::memset(&model[65536], 0, 65536);
  dev->discard(3 * 65536, 65536);
  std::memset(&model[3 * 65536], 0, 65536);
  std::vector<uint8_t> got(model.size());
  dev->read(0, got);
  EXPECT_TRUE(got == model);
  dev.reset();
  expect_clean(dir / "top.qcow2");
  // The base is untouched.
  std::ifstream f(dir / "base.raw", std::ios::binary);
  std::vector<uint8_t> b2(base.size());
  f.read(reinterpret_cast<char*>(b2.data()), static_cast<std::streamsize>(b2.size()));
  EXPECT_TRUE(b2 == base);
}

TEST(Qcow2, ConcurrentWritersAndReaders) {
  TempDir dir;
  Qcow2CreateOptions o;
  o.size = 32 << 20;
  o.cluster_size = 4096;
  create_qcow2(dir / "t.qcow2", o);
  auto dev = open_image(dir / "t.qcow2");
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      // Each thread owns every 4th 64 KiB stripe.
      std::mt19937_64 rng(t);
      for (int i = 0; i < 400; ++i) {
        uint64_t stripe = (rng() % 128) * 4 + static_cast<uint64_t>(t);
        uint64_t off = stripe * 65536 + rng() % 60000;
        auto d = random_bytes(1 + rng() % 5000, stripe);
        dev->write(off, d);
        std::vector<uint8_t> back(d.size());
        dev->read(off, back);
        EXPECT_TRUE(back == d);
      }
    });
  }
  for (auto& th : threads) th.join();
  dev.reset();
  expect_clean(dir / "t.qcow2");
}

// Allocating writes run their data I/O unlocked: threads writing different
// parts of the same new clusters (copy-on-write from a backing file) must
// wait for each other's allocation, or one's copy of the old data would
// overwrite another's new data. Zeroing and discard run alongside.
TEST(Qcow2, ConcurrentPartialWritesToSameClusters) {
  TempDir dir;
  auto base = random_bytes(4 << 20, 11);
  {
    std::ofstream f(dir / "base.raw", std::ios::binary);
    f.write(reinterpret_cast<const char*>(base.data()), static_cast<std::streamsize>(base.size()));
  }
  Qcow2CreateOptions o;
  o.size = 4 << 20;
  o.backing_file = "base.raw";
  o.backing_format = "raw";
  create_qcow2(dir / "top.qcow2", o);
  auto dev = open_image(dir / "top.qcow2");
  constexpr uint64_t kClusters = 48, kPiece = 4096;  // clusters 0..47 written, 48..63 zeroed
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937_64 rng(static_cast<uint64_t>(t) + 100);
      std::vector<uint64_t> order;
      for (uint64_t c = 0; c < kClusters; ++c)
        for (uint64_t j = 0; j < 4; ++j) order.push_back(c * 16 + static_cast<uint64_t>(t) * 4 + j);
      std::shuffle(order.begin(), order.end(), rng);
      for (uint64_t piece : order) dev->write(piece * kPiece, std::vector<uint8_t>(kPiece, static_cast<uint8_t>(piece)));
    });
  }
  threads.emplace_back([&] {
    for (uint64_t c = kClusters; c < 64; ++c) {
      if (c % 2) dev->write_zeroes(c * 65536 + 512, 65536 - 512, false);  // keeps the first 512 bytes
      else dev->discard(c * 65536, 65536);
    }
  });
  for (auto& th : threads) th.join();
  std::vector<uint8_t> got(4 << 20);
  dev->read(0, got);
  for (uint64_t piece = 0; piece < kClusters * 16; ++piece)
    ASSERT_EQ(got[piece * kPiece + 123], static_cast<uint8_t>(piece)) << "piece " << piece;
  for (uint64_t c = kClusters; c < 64; ++c) {
    EXPECT_EQ(got[c * 65536 + 600], 0) << "cluster " << c;
    EXPECT_EQ(got[c * 65536 + 100], c % 2 ? base[c * 65536 + 100] : 0) << "cluster " << c;
  }
  dev.reset();
  expect_clean(dir / "top.qcow2");
}

// Snapshot operations wait until no allocating write is in flight, and new
// allocations wait for them: writers filling fresh clusters while snapshots
// are taken lose nothing, and every snapshot holds a prefix of each writer's
// sequence (a write is in a snapshot whole or not at all).
TEST(Qcow2, SnapshotsWhileAllocatingWrites) {
  TempDir dir;
  Qcow2CreateOptions o;
  o.size = 16 << 20;
  create_qcow2(dir / "t.qcow2", o);
  auto dev = open_image(dir / "t.qcow2");
  auto* q = dynamic_cast<Qcow2Image*>(dev.get());
  ASSERT_NE(q, nullptr);
  constexpr int kWriters = 6;
  constexpr uint64_t kPiece = 4096, kPerWriter = (16 << 20) / kPiece / kWriters;
  std::atomic<int> running{kWriters};
  std::vector<std::thread> threads;
  for (int t = 0; t < kWriters; ++t) {
    threads.emplace_back([&, t] {
      // Writer t fills every kWriters-th 4 KiB piece, in order: new clusters
      // are allocated by all writers at once.
      try {
        for (uint64_t i = 0; i < kPerWriter; ++i) {
          uint64_t piece = i * kWriters + static_cast<uint64_t>(t);
          std::vector<uint8_t> d(kPiece, static_cast<uint8_t>(1 + t));
          std::memcpy(d.data(), &i, sizeof i);
          dev->write(piece * kPiece, d);
        }
      } catch (const std::exception& e) {
        ADD_FAILURE() << "writer " << t << ": " << e.what();
      }
      --running;
    });
  }
  int taken = 0;
  while (running > 0 && taken < 20) {
    q->create_snapshot(fmt::format("s{}", taken++));
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  for (auto& th : threads) th.join();
  ASSERT_GE(taken, 1);
  std::vector<uint8_t> got(16 << 20);
  dev->read(0, got);
  for (uint64_t piece = 0; piece < kPerWriter * kWriters; ++piece) {
    uint64_t i = 0;
    std::memcpy(&i, &got[piece * kPiece], sizeof i);
    ASSERT_EQ(i, piece / kWriters) << "piece " << piece;
    ASSERT_EQ(got[piece * kPiece + 100], 1 + piece % kWriters) << "piece " << piece;
  }
  dev.reset();
  expect_clean(dir / "t.qcow2");
  // Each snapshot: per writer, pieces written up to some point, zeros after.
  OpenOptions ro;
  ro.read_only = true;
  for (int s = 0; s < taken; ++s) {
    auto snap = open_image(dir / "t.qcow2", ro);
    dynamic_cast<Qcow2Image*>(snap.get())->load_snapshot(fmt::format("s{}", s));
    snap->read(0, got);
    for (int t = 0; t < kWriters; ++t) {
      bool ended = false;
      for (uint64_t i = 0; i < kPerWriter; ++i) {
        uint64_t piece = i * kWriters + static_cast<uint64_t>(t);
        bool written = got[piece * kPiece + 100] == 1 + t;
        if (!written) {
          ASSERT_EQ(got[piece * kPiece + 100], 0) << "snapshot s" << s << " piece " << piece;
          ended = true;
        } else {
          ASSERT_FALSE(ended) << "snapshot s" << s << ": writer " << t << " has a hole before piece " << piece;
        }
      }
    }
  }
}

// A write that grows the file zeroes the clusters after its own, and later
// partial writes into new clusters there skip their zeroing. A cluster that
// was freed (discard) holds old data: once anything is freed, allocations
// must zero again, or the rest of a partially written cluster shows old data.
TEST(Qcow2, ZeroedAheadClustersAndFreedOnes) {
  TempDir dir;
  Qcow2CreateOptions o;
  o.size = 8 << 20;
  create_qcow2(dir / "z.qcow2", o);
  auto dev = open_image(dir / "z.qcow2");
  const uint64_t cs = 65536;
  auto full = random_bytes(cs, 7);
  dev->write(0, std::vector<uint8_t>(4096, 1));  // cluster 0: grows the file, zeroes ahead
  dev->write(cs, full);                           // cluster 1: whole, new data
  std::vector<uint8_t> got(cs);
  dev->read(cs, got);
  EXPECT_TRUE(got == full);
  dev->write(2 * cs + 8192, std::vector<uint8_t>(4096, 2));  // partial, in the zeroed range
  dev->read(2 * cs, got);
  for (uint64_t i = 0; i < cs; ++i) ASSERT_EQ(got[i], i >= 8192 && i < 12288 ? 2 : 0) << "byte " << i;
  dev->discard(cs, cs);  // frees cluster 1's space, which holds `full`
  dev->write(5 * cs + 4096, std::vector<uint8_t>(4096, 3));  // may land on that space
  dev->read(5 * cs, got);
  for (uint64_t i = 0; i < cs; ++i) ASSERT_EQ(got[i], i >= 4096 && i < 8192 ? 3 : 0) << "byte " << i;
  dev.reset();
  expect_clean(dir / "z.qcow2");  // the zeroed tail of the file is neither data nor a leak
}

// Fresh allocations' L2 entries are held back until a flush (like QEMU's
// metadata cache): another opener of the file sees the cluster only after
// it. The data itself is in the file at once (only its mapping waits).
TEST(Qcow2, FreshEntriesReachTheFileOnFlush) {
  TempDir dir;
  Qcow2CreateOptions o;
  o.size = 4 << 20;
  create_qcow2(dir / "a.qcow2", o);
  auto dev = open_image(dir / "a.qcow2");
  auto data = random_bytes(4096, 7);
  dev->write(65536, data);
  OpenOptions ro;
  ro.read_only = true;
  std::vector<uint8_t> back(4096);
  open_image(dir / "a.qcow2", ro)->read(65536, back);
  EXPECT_EQ(back, std::vector<uint8_t>(4096, 0)) << "the entry reached the file before a flush";
  dev->read(65536, back);
  EXPECT_EQ(back, data) << "the writer itself must see its write at once";
  dev->flush();
  open_image(dir / "a.qcow2", ro)->read(65536, back);
  EXPECT_EQ(back, data);
  dev.reset();
  expect_clean(dir / "a.qcow2");
}

// More tables than the L2 cache holds (16 MiB: 256 tables of 64 KiB), each
// with a held-back entry: a table leaving the cache writes its entries
// first, closing writes the rest, and every cluster reads back. The second
// pass loads the tables from the file (new tables enter the cache without
// evicting anything), so it is the one that evicts.
TEST(Qcow2, HeldBackEntriesSurviveCacheEvictionAndClose) {
  TempDir dir;
  const uint64_t per_table = uint64_t(65536 / 8) * 65536;  // 512 MiB per L2 table
  const int tables = 300;
  Qcow2CreateOptions o;
  o.size = per_table * tables;
  create_qcow2(dir / "a.qcow2", o);
  auto at = [&](int table, int pass) { return uint64_t(table) * per_table + uint64_t(pass + 1) * 65536; };
  for (int pass = 0; pass < 2; ++pass) {
    auto dev = open_image(dir / "a.qcow2");
    for (int i = 0; i < tables; ++i) dev->write(at(i, pass), random_bytes(4096, 1000 * pass + i));
  }
  expect_clean(dir / "a.qcow2");
  OpenOptions ro;
  ro.read_only = true;
  auto dev = open_image(dir / "a.qcow2", ro);
  std::vector<uint8_t> back(4096);
  for (int pass = 0; pass < 2; ++pass)
    for (int i = 0; i < tables; ++i) {
      dev->read(at(i, pass), back);
      ASSERT_EQ(back, random_bytes(4096, 1000 * pass + i)) << "table " << i << ", pass " << pass;
    }
}

TEST(Qcow2, CompressedWriteReadsBack) {
  TempDir dir;
  for (const char* ctype : {"zlib", "zstd"}) {
    Qcow2CreateOptions o;
    o.size = 1 << 20;
    o.compression_type = std::string(ctype) == "zstd" ? qcow2::kCompressionZstd : qcow2::kCompressionZlib;
    std::string path = dir / (std::string(ctype) + ".qcow2");
    create_qcow2(path, o);
    std::vector<uint8_t> data(1 << 20);
    for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<uint8_t>(i / 100);
    {
      auto dev = open_image(path);
      auto* q = dynamic_cast<Qcow2Image*>(dev.get());
      for (uint64_t off = 0; off < data.size(); off += 65536) q->write_compressed(off, std::span(data).subspan(off, 65536));
      // Overwriting part of a compressed cluster decompresses it first.
      std::memset(&data[70000], 0xab, 100);
      dev->write(70000, std::span(data).subspan(70000, 100));
    }
    expect_clean(path);
    OpenOptions ro;
    ro.read_only = true;
    auto dev = open_image(path, ro);
    std::vector<uint8_t> got(data.size());
    dev->read(0, got);
    EXPECT_TRUE(got == data) << ctype;
  }
}

}  // namespace
}  // namespace insula::block
