// Internal snapshots across tools: snapshots insula creates are listed,
// read and applied by qemu-img; snapshots qemu-img creates are applied and
// deleted by insula; after every step `qemu-img check` finds no errors and no
// leaks and each snapshot holds what was written before it was taken.
#include <cstring>

#include "block/image_ops.h"
#include "block/qcow2.h"
#include "interop_util.h"

namespace insula::block {
namespace {

using test::expect_qemu_clean;
using test::expect_qemu_equal;
using test::read_file;
using test::run;
using test::TempDir;
using test::write_file;

// The snapshot's content as qemu-img reads it, compared with a model.
void expect_qemu_snapshot_equal(const TempDir& dir, const std::string& img, const std::string& snap,
                                const std::vector<uint8_t>& model) {
  std::string out, raw = dir / "snap.raw";
  ASSERT_EQ(run(fmt::format("qemu-img convert -l snapshot.name={} -O raw {} {}", snap, img, raw), &out), 0) << out;
  EXPECT_TRUE(read_file(raw) == model) << "snapshot " << snap << " of " << img;
}

void insula_ok(const std::string& args) {
  std::string out;
  ASSERT_EQ(run(fmt::format("{} img {}", INSULA_BIN, args), &out), 0) << args << "\n" << out;
}

// Random writes (and some zeroing) through the library, mirrored in model.
void scribble(const std::string& img, std::vector<uint8_t>& model, uint64_t seed, int count) {
  auto dev = open_image(img);
  std::mt19937_64 rng(seed);
  for (int i = 0; i < count; ++i) {
    uint64_t len = 1 + rng() % 200000;
    uint64_t off = rng() % (model.size() - len);
    if (rng() % 5 == 0) {
      dev->write_zeroes(off, len, true);
      std::memset(&model[off], 0, len);
    } else {
      auto d = test::random_bytes(len, rng());
      dev->write(off, d);
      std::memcpy(&model[off], d.data(), len);
    }
  }
  dev->flush();
}

class InsulaSnapshots : public ::testing::TestWithParam<const char*> {};

TEST_P(InsulaSnapshots, ReadAndAppliedByQemu) {
  REQUIRE_QEMU();
  TempDir dir;
  std::string img = dir / "a.qcow2", out, ref;
  insula_ok(fmt::format("create -f qcow2 -o {} {} 8M", GetParam(), img));
  std::vector<std::vector<uint8_t>> models;
  std::vector<uint8_t> model(8 << 20, 0);
  // Three snapshots, each followed by writes that copy shared clusters.
  for (int k = 0; k < 3; ++k) {
    scribble(img, model, 10 + k, 60);
    models.push_back(model);
    insula_ok(fmt::format("snapshot -c snap{} {}", k, img));
    expect_qemu_clean(img);
  }
  scribble(img, model, 20, 60);
  write_file(dir / "active.raw", model);
  expect_qemu_clean(img);
  expect_qemu_equal(dir / "active.raw", img);
  ASSERT_EQ(run(fmt::format("qemu-img snapshot -l {}", img), &ref), 0);
  ASSERT_EQ(run(fmt::format("{} img snapshot -l {}", INSULA_BIN, img), &out), 0);
  EXPECT_EQ(out, ref);
  EXPECT_NE(ref.find("snap2"), std::string::npos) << ref;
  for (int k = 0; k < 3; ++k) expect_qemu_snapshot_equal(dir, img, fmt::format("snap{}", k), models[k]);

  // Delete the middle one: the others keep their data, nothing leaks.
  insula_ok(fmt::format("snapshot -d snap1 {}", img));
  expect_qemu_clean(img);
  expect_qemu_equal(dir / "active.raw", img);
  expect_qemu_snapshot_equal(dir, img, "snap0", models[0]);
  expect_qemu_snapshot_equal(dir, img, "snap2", models[2]);

  // insula applies one (by ID), then writes; qemu-img applies another.
  insula_ok(fmt::format("snapshot -a 1 {}", img));
  expect_qemu_clean(img);
  write_file(dir / "m0.raw", models[0]);
  expect_qemu_equal(dir / "m0.raw", img);
  std::vector<uint8_t> after = models[0];
  scribble(img, after, 30, 40);
  expect_qemu_clean(img);
  expect_qemu_snapshot_equal(dir, img, "snap0", models[0]);
  ASSERT_EQ(run(fmt::format("qemu-img snapshot -a snap2 {}", img), &out), 0) << out;
  write_file(dir / "m2.raw", models[2]);
  expect_qemu_equal(dir / "m2.raw", img);
  expect_qemu_clean(img);

  // Deleting every snapshot leaves a clean image with the active data.
  insula_ok(fmt::format("snapshot -d snap0 {}", img));
  insula_ok(fmt::format("snapshot -d snap2 {}", img));
  expect_qemu_clean(img);
  expect_qemu_equal(dir / "m2.raw", img);
  ASSERT_EQ(run(fmt::format("qemu-img snapshot -l {}", img), &out), 0);
  EXPECT_EQ(out, "");
}

INSTANTIATE_TEST_SUITE_P(Options, InsulaSnapshots,
                         ::testing::Values("cluster_size=64k", "cluster_size=4k", "compat=0.10,cluster_size=2k",
                                           "cluster_size=1k,refcount_bits=4"));

TEST(SnapshotInterop, QemuSnapshotsAppliedAndDeletedByInsula) {
  REQUIRE_QEMU();
  TempDir dir;
  std::string out, img = dir / "q.qcow2";
  // Compressed clusters, zero clusters that keep their allocation, and data.
  std::vector<uint8_t> base(6 << 20);
  for (size_t i = 0; i < base.size(); ++i) base[i] = static_cast<uint8_t>((i / 4096) * 7 + (i % 13));
  write_file(dir / "base.raw", base);
  ASSERT_EQ(run(fmt::format("qemu-img convert -c -O qcow2 -o cluster_size=16k {} {}", dir / "base.raw", img), &out), 0)
      << out;
  ASSERT_EQ(run(fmt::format("qemu-io -c 'write -P 1 1M 300k' -c 'write -z 3M 64k' {}", img), &out), 0) << out;
  const char* names[] = {"a", "b", "c"};
  const char* writes[] = {"-c 'write -P 2 100k 1M' -c 'write -z 1M 32k'", "-c 'write -P 3 2M 2M' -c 'discard 0 64k'",
                          "-c 'write -P 4 512k 3M'"};
  for (int k = 0; k < 3; ++k) {
    ASSERT_EQ(run(fmt::format("qemu-img snapshot -c {} {}", names[k], img), &out), 0) << out;
    ASSERT_EQ(run(fmt::format("qemu-io {} {}", writes[k], img), &out), 0) << out;
  }
  for (const char* n : names)
    ASSERT_EQ(run(fmt::format("qemu-img convert -l snapshot.name={} -O raw {} {}", n, img, dir / (std::string(n) + ".raw")),
                  &out),
              0)
        << out;
  ASSERT_EQ(run(fmt::format("qemu-img convert -O raw {} {}", img, dir / "cur.raw"), &out), 0) << out;
  EXPECT_EQ(run(fmt::format("{} img check {}", INSULA_BIN, img), &out), 0) << out;

  insula_ok(fmt::format("snapshot -a b {}", img));
  expect_qemu_clean(img);
  expect_qemu_equal(dir / "b.raw", img);
  insula_ok(fmt::format("snapshot -d b {}", img));  // the middle one
  expect_qemu_clean(img);
  expect_qemu_equal(dir / "b.raw", img);
  expect_qemu_snapshot_equal(dir, img, "a", read_file(dir / "a.raw"));
  expect_qemu_snapshot_equal(dir, img, "c", read_file(dir / "c.raw"));
  insula_ok(fmt::format("snapshot -a a {}", img));
  expect_qemu_clean(img);
  expect_qemu_equal(dir / "a.raw", img);
  // insula's own reading agrees with qemu-img's.
  insula_ok(fmt::format("convert -O raw {} {}", img, dir / "mine.raw"));
  EXPECT_TRUE(read_file(dir / "mine.raw") == read_file(dir / "a.raw"));
  insula_ok(fmt::format("snapshot -d a {}", img));
  insula_ok(fmt::format("snapshot -d 3 {}", img));  // c, by ID
  expect_qemu_clean(img);
  expect_qemu_equal(dir / "a.raw", img);
  ASSERT_EQ(run(fmt::format("qemu-img info --output json {}", img), &out), 0);
  EXPECT_EQ(out.find("\"snapshots\""), std::string::npos) << out;
}

TEST(SnapshotInterop, ApplyRestoresTheSizeAtSnapshotTime) {
  REQUIRE_QEMU();
  TempDir dir;
  std::string out, img = dir / "r.qcow2";
  insula_ok(fmt::format("create -f qcow2 -o cluster_size=512 {} 1M", img));
  std::vector<uint8_t> model(1 << 20, 0);
  scribble(img, model, 5, 20);
  insula_ok(fmt::format("snapshot -c small {}", img));
  insula_ok(fmt::format("resize {} 64M", img));  // past what the L1 table held
  {
    auto dev = open_image(img);
    auto d = test::random_bytes(100000, 9);
    dev->write(60 << 20, d);
  }
  expect_qemu_clean(img);
  insula_ok(fmt::format("snapshot -a small {}", img));
  expect_qemu_clean(img);
  ASSERT_EQ(run(fmt::format("qemu-img info --output json {}", img), &out), 0);
  EXPECT_NE(out.find("\"virtual-size\": 1048576"), std::string::npos) << out;
  write_file(dir / "m.raw", model);
  expect_qemu_equal(dir / "m.raw", img);
  // Errors: unknown snapshot, raw image, mixed actions.
  EXPECT_NE(run(fmt::format("{} img snapshot -a nosuch {}", INSULA_BIN, img), &out), 0);
  EXPECT_NE(out.find("no snapshot"), std::string::npos) << out;
  EXPECT_NE(run(fmt::format("{} img snapshot -c x {}", INSULA_BIN, dir / "m.raw"), &out), 0);
  EXPECT_NE(out.find("only qcow2"), std::string::npos) << out;
  EXPECT_NE(run(fmt::format("{} img snapshot -a small -d small {}", INSULA_BIN, img), &out), 0);
}

// convert -l: each snapshot qemu-img took (before a resize) read by insula
// equals what qemu-img's convert -l reads, in every form of -l.
TEST(SnapshotInterop, ConvertLoadsSnapshots) {
  REQUIRE_QEMU();
  TempDir dir;
  std::string out, img = dir / "l.qcow2";
  ASSERT_EQ(run(fmt::format("qemu-img create -q -f qcow2 -o cluster_size=4k {} 4M", img), &out), 0) << out;
  std::vector<uint8_t> model(4 << 20, 0);
  scribble(img, model, 11, 30);
  ASSERT_EQ(run(fmt::format("qemu-img snapshot -c first {}", img), &out), 0) << out;
  scribble(img, model, 12, 30);
  ASSERT_EQ(run(fmt::format("qemu-img snapshot -c second {}", img), &out), 0) << out;
  ASSERT_EQ(run(fmt::format("qemu-img resize {} 6M", img), &out), 0) << out;
  for (const char* l : {"first", "1", "snapshot.name=second", "snapshot.id=2", "snapshot.id=1,snapshot.name=first"}) {
    std::string want = dir / "want.raw", got = dir / "got.raw";
    ASSERT_EQ(run(fmt::format("qemu-img convert -l {} -O raw {} {}", l, img, want), &out), 0) << out;
    insula_ok(fmt::format("convert -l {} -O raw {} {}", l, img, got));
    EXPECT_TRUE(read_file(got) == read_file(want)) << "-l " << l;
  }
  // As in qemu-img, the output has the current size (6M); the snapshot,
  // taken at 4M, reads as zeros past its end.
  insula_ok(fmt::format("convert -l second -O qcow2 {} {}", img, dir / "s.qcow2"));
  model.resize(6 << 20, 0);
  write_file(dir / "m.raw", model);
  expect_qemu_equal(dir / "m.raw", dir / "s.qcow2");
  EXPECT_NE(run(fmt::format("{} img convert -l nosuch -O raw {} {}", INSULA_BIN, img, dir / "x.raw"), &out), 0);
  EXPECT_NE(out.find("no snapshot"), std::string::npos) << out;
  EXPECT_NE(run(fmt::format("{} img convert -l snapshot.id=1,snapshot.name=second -O raw {} {}", INSULA_BIN, img,
                            dir / "x.raw"),
                &out),
            0);
  EXPECT_NE(run(fmt::format("{} img convert -l first -O raw {} {}", INSULA_BIN, dir / "m.raw", dir / "x.raw"), &out), 0);
  EXPECT_NE(out.find("only qcow2"), std::string::npos) << out;
}

}  // namespace
}  // namespace insula::block
