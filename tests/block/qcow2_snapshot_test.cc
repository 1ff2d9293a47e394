// Unit tests: internal snapshots against a model (create, apply, delete with
// exact refcounts, for several layouts), and hostile snapshot tables.
#include <gtest/gtest.h>

#include <cstring>

#include "base/error.h"
#include "block/qcow2.h"
#include "test_util.h"

namespace insula::block {
namespace {

using test::TempDir;

struct Layout {
  uint64_t cluster_size;
  uint32_t version, refcount_bits;
};

class Qcow2Snapshots : public ::testing::TestWithParam<Layout> {};

void expect_clean(Qcow2Image& q) {
  CheckResult r = q.check(RepairMode::kNone);
  EXPECT_EQ(r.corruptions, 0u) << fmt::format("{}", fmt::join(r.messages, "\n"));
  EXPECT_EQ(r.leaks, 0u) << fmt::format("{}", fmt::join(r.messages, "\n"));
}

void expect_reads(BlockDevice& dev, const std::vector<uint8_t>& model) {
  std::vector<uint8_t> got(model.size());
  dev.read(0, got);
  EXPECT_TRUE(got == model);
}

void scribble(BlockDevice& dev, std::vector<uint8_t>& model, uint64_t seed, int count, bool compressed) {
  std::mt19937_64 rng(seed);
  auto* q = dynamic_cast<Qcow2Image*>(&dev);
  for (int i = 0; i < count; ++i) {
    uint64_t len = 1 + rng() % 50000;
    uint64_t off = rng() % (model.size() - len);
    switch (rng() % 6) {
      case 0:
        dev.write_zeroes(off, len, true);
        std::memset(&model[off], 0, len);
        break;
      case 1:
        if (compressed) {
          uint64_t cs = q->cluster_size(), c = off / cs * cs;
          std::vector<uint8_t> d(cs, static_cast<uint8_t>(rng()));
          q->write_compressed(c, d);
          std::memcpy(&model[c], d.data(), cs);
          break;
        }
        [[fallthrough]];
      default: {
        auto d = test::random_bytes(len, rng());
        dev.write(off, d);
        std::memcpy(&model[off], d.data(), len);
      }
    }
  }
}

TEST_P(Qcow2Snapshots, CreateApplyDeleteAgainstModel) {
  const Layout l = GetParam();
  TempDir dir;
  Qcow2CreateOptions o;
  o.size = 3 << 20;
  o.cluster_size = l.cluster_size;
  o.version = l.version;
  o.refcount_bits = l.refcount_bits;
  create_qcow2(dir / "s.qcow2", o);
  std::vector<uint8_t> model(o.size, 0);
  std::vector<std::vector<uint8_t>> snaps;
  auto dev = open_image(dir / "s.qcow2");
  auto* q = dynamic_cast<Qcow2Image*>(dev.get());
  for (int k = 0; k < 3; ++k) {
    scribble(*dev, model, 100 + k, 40, l.version == 3);
    EXPECT_EQ(q->create_snapshot(fmt::format("s{}", k)), std::to_string(k + 1));
    snaps.push_back(model);
    expect_clean(*q);
  }
  scribble(*dev, model, 200, 40, false);
  expect_clean(*q);
  expect_reads(*dev, model);
  ASSERT_EQ(q->snapshots().size(), 3u);

  q->apply_snapshot("s1");
  expect_clean(*q);
  expect_reads(*dev, snaps[1]);
  q->delete_snapshot("s1");  // the one just applied, in the middle
  expect_clean(*q);
  expect_reads(*dev, snaps[1]);
  std::vector<uint8_t> cur = snaps[1];
  scribble(*dev, cur, 300, 30, false);
  expect_clean(*q);

  q->apply_snapshot("1");  // by ID
  expect_clean(*q);
  expect_reads(*dev, snaps[0]);
  q->apply_snapshot("s2");
  expect_reads(*dev, snaps[2]);
  // A new snapshot gets the next ID after the largest.
  EXPECT_EQ(q->create_snapshot("again"), "4");
  q->delete_snapshot("s0");
  q->delete_snapshot("s2");
  q->delete_snapshot("again");
  expect_clean(*q);
  expect_reads(*dev, snaps[2]);
  EXPECT_TRUE(q->snapshots().empty());
  EXPECT_EQ(q->header().nb_snapshots, 0u);

  // And the same after reopening from the file.
  dev.reset();
  auto again = open_image(dir / "s.qcow2");
  expect_reads(*again, snaps[2]);
  expect_clean(*dynamic_cast<Qcow2Image*>(again.get()));
}

INSTANTIATE_TEST_SUITE_P(Layouts, Qcow2Snapshots,
                         ::testing::Values(Layout{65536, 3, 16}, Layout{512, 3, 16}, Layout{4096, 2, 16},
                                           Layout{2048, 3, 8}, Layout{1024, 3, 64}));

TEST(Qcow2Snapshot, NarrowRefcountsRefuseBeforeChangingAnything) {
  TempDir dir;
  Qcow2CreateOptions o;
  o.size = 1 << 20;
  o.cluster_size = 4096;
  o.refcount_bits = 2;  // at most 3 references
  create_qcow2(dir / "n.qcow2", o);
  auto dev = open_image(dir / "n.qcow2");
  auto* q = dynamic_cast<Qcow2Image*>(dev.get());
  std::vector<uint8_t> d(100000, 7);
  dev->write(0, d);
  q->create_snapshot("a");
  q->create_snapshot("b");
  EXPECT_THROW(q->create_snapshot("c"), Error);
  expect_clean(*q);
  EXPECT_EQ(q->snapshots().size(), 2u);
}

TEST(Qcow2Snapshot, BadNames) {
  TempDir dir;
  Qcow2CreateOptions o;
  o.size = 1 << 20;
  create_qcow2(dir / "n.qcow2", o);
  auto dev = open_image(dir / "n.qcow2");
  auto* q = dynamic_cast<Qcow2Image*>(dev.get());
  EXPECT_THROW(q->create_snapshot(""), Error);
  EXPECT_THROW(q->create_snapshot(std::string(300, 'x')), Error);
  EXPECT_THROW(q->apply_snapshot("none"), Error);
  EXPECT_THROW(q->delete_snapshot("none"), Error);
}

// Hostile snapshot tables: each is refused with an Error by every path that
// reads the table (list, check, apply, delete), without crashing.
class HostileSnapshotTable : public ::testing::Test {
 protected:
  void SetUp() override {
    Qcow2CreateOptions o;
    o.size = 1 << 20;
    create_qcow2(path_, o);
    auto dev = open_image(path_);
    std::vector<uint8_t> d(65536, 0x5a);
    dev->write(0, d);
    auto* q = dynamic_cast<Qcow2Image*>(dev.get());
    q->create_snapshot("good");
    table_ = q->header().snapshots_offset;
  }
  void poke(uint64_t off, std::span<const uint8_t> bytes) {
    ImageFile f = ImageFile::open(path_, false);
    f.write(off, bytes);
  }
  void poke64(uint64_t off, uint64_t v) {
    uint8_t b[8];
    qcow2::put64(b, v);
    poke(off, b);
  }
  void poke32(uint64_t off, uint32_t v) {
    uint8_t b[4];
    qcow2::put32(b, v);
    poke(off, b);
  }
  void poke16(uint64_t off, uint16_t v) {
    uint8_t b[2];
    qcow2::put16(b, v);
    poke(off, b);
  }
  // Every snapshot operation fails with an Error (opening may already), and
  // check finds the problem. Listing only reads the table itself: it fails
  // when the table is bad (list_fails), not for what its L1 tables hold.
  void expect_refused(bool list_fails = true) {
    auto attempt = [&](const char* what, auto op) {
      try {
        auto dev = open_image(path_);
        op(*dynamic_cast<Qcow2Image*>(dev.get()));
        ADD_FAILURE() << what << " accepted a hostile snapshot table";
      } catch (const Error&) {
      }
    };
    if (list_fails) attempt("list", [](Qcow2Image& q) { q.snapshots(); });
    try {
      auto dev = open_image(path_);
      EXPECT_GT(dynamic_cast<Qcow2Image*>(dev.get())->check(RepairMode::kNone).corruptions, 0u);
    } catch (const Error&) {
    }
    attempt("apply", [](Qcow2Image& q) { q.apply_snapshot("1"); });
    attempt("delete", [](Qcow2Image& q) { q.delete_snapshot("1"); });
    attempt("create", [](Qcow2Image& q) { q.create_snapshot("more"); });
  }
  TempDir dir_;
  std::string path_ = dir_ / "h.qcow2";
  uint64_t table_ = 0;
};

TEST_F(HostileSnapshotTable, CountRunsPastTheFile) {
  poke32(60, 60000);
  expect_refused();
}

TEST_F(HostileSnapshotTable, TableOffsetBeyondTheFile) {
  poke64(64, 1ULL << 40);
  expect_refused();
}

TEST_F(HostileSnapshotTable, HugeL1Size) {
  poke32(table_ + 8, 0x10000000);
  expect_refused();
}

TEST_F(HostileSnapshotTable, L1BeyondTheFile) {
  poke64(table_, 1ULL << 40);
  expect_refused();
}

TEST_F(HostileSnapshotTable, L1OverlapsTheActiveOne) {
  ImageFile f = ImageFile::open(path_, true);
  std::vector<uint8_t> head(104);
  f.read(0, head);
  poke64(table_, qcow2::be64(&head[40]));  // the snapshot's L1 "is" the active L1
  expect_refused(false);
}

TEST_F(HostileSnapshotTable, L1EntryPointsOutside) {
  ImageFile f = ImageFile::open(path_, true);
  uint8_t e[8];
  f.read(table_, e);
  poke64(qcow2::be64(e), (1ULL << 40));  // the snapshot's first L2 table
  expect_refused(false);
}

TEST_F(HostileSnapshotTable, ExtraDataTooLarge) {
  poke32(table_ + 36, 1 << 20);
  expect_refused();
}

TEST_F(HostileSnapshotTable, NamesRunPastTheFile) {
  {  // the table moves to the end of the file, so 2 x 64 KiB of names run past it
    ImageFile f = ImageFile::open(path_, false);
    std::vector<uint8_t> table(65536);
    f.read(table_, table);
    table_ = (f.size() + 65535) / 65536 * 65536;
    f.write(table_, std::span<const uint8_t>(table.data(), 512));
  }
  poke64(64, table_);
  poke16(table_ + 14, 0xffff);
  poke16(table_ + 12, 0xffff);
  expect_refused();
}

TEST_F(HostileSnapshotTable, AbsurdDiskSize) {
  poke64(table_ + 48, ~0ULL);
  expect_refused();
}

}  // namespace
}  // namespace insula::block
