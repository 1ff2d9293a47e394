// Interoperability with qemu-img: images insula writes pass `qemu-img check`
// and `qemu-img compare`; images qemu-img writes read back byte-identical to
// `qemu-img convert -O raw`.
#include <cctype>
#include <cstring>

#include "block/image_ops.h"
#include "block/qcow2.h"
#include "interop_util.h"

namespace insula::block {
namespace {

using test::run;
using test::TempDir;

using test::expect_qemu_clean;
using test::expect_qemu_equal;
using test::read_file;
using test::write_file;

// insula's own reading of img equals qemu-img's conversion of it to raw.
void expect_insula_reads_like_qemu(const TempDir& dir, const std::string& img) {
  std::string ref = dir / "ref.raw", mine = dir / "mine.raw", out;
  ASSERT_EQ(run(fmt::format("qemu-img convert -O raw {} {}", img, ref), &out), 0) << out;
  ASSERT_EQ(run(fmt::format("{} img convert -O raw {} {}", INSULA_BIN, img, mine), &out), 0) << out;
  EXPECT_TRUE(read_file(ref) == read_file(mine)) << img;
  // And through the library directly, not only via convert.
  OpenOptions ro;
  ro.read_only = true;
  auto dev = open_image(img, ro);
  std::vector<uint8_t> got(dev->size());
  dev->read(0, got);
  EXPECT_TRUE(got == read_file(ref)) << img;
  EXPECT_EQ(run(fmt::format("{} img check {}", INSULA_BIN, img), &out), 0) << out;
}

struct WriteCase {
  const char* opts;
};
void PrintTo(const WriteCase& c, std::ostream* os) { *os << c.opts; }
class InsulaWrites : public ::testing::TestWithParam<WriteCase> {};

TEST_P(InsulaWrites, HeavyRandomWritesPassQemuCheck) {
  REQUIRE_QEMU();
  TempDir dir;
  const uint64_t size = 24 << 20;
  std::string img = dir / "a.qcow2", out;
  ASSERT_EQ(run(fmt::format("{} img create -f qcow2 -o {} {} 24M", INSULA_BIN, GetParam().opts, img), &out), 0) << out;
  expect_qemu_clean(img);
  std::vector<uint8_t> model(size, 0);
  std::mt19937_64 rng(1);
  {
    auto dev = open_image(img);
    for (int i = 0; i < 600; ++i) {
      uint64_t len = 1 + rng() % 300000;
      uint64_t off = rng() % (size - len);
      if (rng() % 6 == 0) {
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
  write_file(dir / "model.raw", model);
  expect_qemu_clean(img);
  expect_qemu_equal(dir / "model.raw", img);
}

INSTANTIATE_TEST_SUITE_P(Options, InsulaWrites,
                         ::testing::Values(WriteCase{"cluster_size=64k"}, WriteCase{"compat=0.10"},
                                           WriteCase{"cluster_size=512"}, WriteCase{"cluster_size=2M"},
                                           WriteCase{"cluster_size=4k,refcount_bits=1"},
                                           WriteCase{"cluster_size=4k,refcount_bits=64"},
                                           WriteCase{"cluster_size=1k,refcount_bits=8"}),
                         // Stable names for ctest (the default prints the struct's bytes).
                         [](const ::testing::TestParamInfo<WriteCase>& info) {
                           std::string n;
                           for (const char* c = info.param.opts; *c; ++c)
                             n += std::isalnum(static_cast<unsigned char>(*c)) ? *c : '_';
                           return n;
                         });

TEST(Interop, InsulaBackingChainAndCompressed) {
  REQUIRE_QEMU();
  TempDir dir;
  std::string out;
  // Compressible base data, converted with -c by insula.
  std::vector<uint8_t> base(8 << 20);
  for (size_t i = 0; i < base.size(); ++i) base[i] = static_cast<uint8_t>((i / 4096) * 3 + (i % 7));
  std::memset(&base[2 << 20], 0, 1 << 20);
  write_file(dir / "base.raw", base);
  ASSERT_EQ(run(fmt::format("{} img convert -c -O qcow2 {} {}", INSULA_BIN, dir / "base.raw", dir / "base.qcow2"), &out), 0) << out;
  expect_qemu_clean(dir / "base.qcow2");
  expect_qemu_equal(dir / "base.raw", dir / "base.qcow2");
  ASSERT_EQ(run(fmt::format("qemu-img check --output json {}", dir / "base.qcow2"), &out), 0);
  EXPECT_EQ(out.find("\"compressed-clusters\": 0"), std::string::npos) << "nothing was compressed:\n" << out;
  // Overlay with a relative backing path, created from the image's folder.
  ASSERT_EQ(run(fmt::format("cd {} && {} img create -f qcow2 -b base.qcow2 -F qcow2 top.qcow2", dir.path(), INSULA_BIN), &out), 0) << out;
  std::vector<uint8_t> model = base;
  {
    auto dev = open_image(dir / "top.qcow2");
    std::mt19937_64 rng(2);
    for (int i = 0; i < 200; ++i) {
      uint64_t len = 1 + rng() % 100000;
      uint64_t off = rng() % (model.size() - len);
      auto d = test::random_bytes(len, rng());
      dev->write(off, d);
      std::memcpy(&model[off], d.data(), len);
    }
    dev->write_zeroes(65536 * 5, 65536 * 3, true);
    std::memset(&model[65536 * 5], 0, 65536 * 3);
  }
  write_file(dir / "model.raw", model);
  expect_qemu_clean(dir / "top.qcow2");
  expect_qemu_equal(dir / "model.raw", dir / "top.qcow2");
  expect_qemu_equal(dir / "base.raw", dir / "base.qcow2");  // base untouched
  ASSERT_EQ(run(fmt::format("qemu-img info --output json {}", dir / "top.qcow2"), &out), 0);
  EXPECT_NE(out.find("\"backing-filename-format\": \"qcow2\""), std::string::npos) << out;
}

TEST(Interop, QemuImagesReadBackIdentical) {
  REQUIRE_QEMU();
  TempDir dir;
  std::string out;
  std::vector<uint8_t> data(6 << 20);
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<uint8_t>((i / 512) ^ (i % 251));
  std::memset(&data[1 << 20], 0, 2 << 20);
  auto rnd = test::random_bytes(1 << 20, 11);
  std::memcpy(&data[4 << 20], rnd.data(), rnd.size());
  write_file(dir / "src.raw", data);
  const char* variants[] = {
      "-O qcow2 -o compat=0.10",
      "-O qcow2 -o cluster_size=512",
      "-O qcow2 -o cluster_size=2M",
      "-O qcow2 -o refcount_bits=1",
      "-O qcow2 -c",
      "-O qcow2 -c -o compression_type=zstd",
      "-O qcow2 -c -o compat=0.10,cluster_size=4k",
  };
  int n = 0;
  for (const char* v : variants) {
    std::string img = dir / fmt::format("q{}.qcow2", n++);
    ASSERT_EQ(run(fmt::format("qemu-img convert {} {} {}", v, dir / "src.raw", img), &out), 0) << out;
    SCOPED_TRACE(v);
    expect_insula_reads_like_qemu(dir, img);
  }
  // Zero clusters and a backing chain written by qemu-io.
  std::string base = dir / "zbase.qcow2", top = dir / "ztop.qcow2";
  ASSERT_EQ(run(fmt::format("qemu-img convert -O qcow2 -c {} {}", dir / "src.raw", base), &out), 0) << out;
  ASSERT_EQ(run(fmt::format("cd {} && qemu-img create -f qcow2 -b zbase.qcow2 -F qcow2 ztop.qcow2 8M", dir.path()), &out), 0) << out;
  ASSERT_EQ(run(fmt::format("qemu-io -c 'write -z 0 1M' -c 'write -P 0x55 3000 200k' -c 'write -z 5M 64k' "
                            "-c 'discard 128k 64k' -c 'write -P 7 7M 100k' {}", top), &out), 0) << out;
  expect_insula_reads_like_qemu(dir, top);
  // v2 overlay (zero writes become real zeros there).
  std::string top2 = dir / "ztop2.qcow2";
  ASSERT_EQ(run(fmt::format("cd {} && qemu-img create -f qcow2 -o compat=0.10 -b zbase.qcow2 -F qcow2 ztop2.qcow2", dir.path()), &out), 0);
  ASSERT_EQ(run(fmt::format("qemu-io -c 'write -z 0 100k' -c 'write -P 9 1M 1M' {}", top2), &out), 0) << out;
  expect_insula_reads_like_qemu(dir, top2);
  // Internal snapshots made by qemu-img: insula reads the active state and
  // its check counts the snapshot's references.
  ASSERT_EQ(run(fmt::format("qemu-img snapshot -c snap1 {}", top), &out), 0) << out;
  ASSERT_EQ(run(fmt::format("qemu-io -c 'write -P 0x66 0 300k' {}", top), &out), 0) << out;
  expect_insula_reads_like_qemu(dir, top);
  // insula writes into the image with a snapshot (copy-on-write of shared
  // clusters), and qemu-img still finds it clean.
  {
    auto dev = open_image(top);
    auto d = test::random_bytes(500000, 3);
    dev->write(10000, d);
  }
  expect_qemu_clean(top);
  expect_insula_reads_like_qemu(dir, top);
}

// Convert copies several 4 MiB windows at once: data spread over many
// windows (plain and -c, qcow2 and raw out) must land where it belongs, and
// qemu-img must find the qcow2 outputs clean.
TEST(Interop, ParallelConvertKeepsEveryWindow) {
  REQUIRE_QEMU();
  TempDir dir;
  std::string out;
  std::vector<uint8_t> data(24 << 20, 0);
  for (uint64_t at = 0; at + (256 << 10) <= data.size(); at += (1536 << 10)) {
    auto r = test::random_bytes(100000, at >> 10);
    std::memcpy(&data[at + 4096], r.data(), r.size());
    std::memset(&data[at + 200000], 0x5a, 50000);  // compressible
  }
  write_file(dir / "s.raw", data);
  for (const char* opt : {"-m 8 -O qcow2", "-m 3 -c -O qcow2", "-O raw"}) {
    auto o = dir / "o.img";
    std::filesystem::remove(o);
    ASSERT_EQ(run(fmt::format("{} img convert {} {} {}", INSULA_BIN, opt, dir / "s.raw", o), &out), 0) << opt << out;
    EXPECT_EQ(run(fmt::format("qemu-img compare {} {}", dir / "s.raw", o), &out), 0) << opt << out;
    if (std::string(opt).find("qcow2") != std::string::npos) {
      EXPECT_EQ(run(fmt::format("qemu-img check {}", o), &out), 0) << opt << out;
    }
  }
}

TEST(Interop, InfoMapAndCompareLikeQemu) {
  REQUIRE_QEMU();
  TempDir dir;
  std::string out, ref;
  std::vector<uint8_t> data(4 << 20, 0);
  auto r = test::random_bytes(300000, 5);
  std::memcpy(&data[1 << 20], r.data(), r.size());
  write_file(dir / "s.raw", data);
  ASSERT_EQ(run(fmt::format("{} img convert -O qcow2 {} {}", INSULA_BIN, dir / "s.raw", dir / "s.qcow2"), &out), 0) << out;
  ASSERT_EQ(run(fmt::format("{} img map --output json {}", INSULA_BIN, dir / "s.qcow2"), &out), 0);
  ASSERT_EQ(run(fmt::format("qemu-img map --output json {}", dir / "s.qcow2"), &ref), 0);
  EXPECT_EQ(out, ref);
  EXPECT_EQ(run(fmt::format("{} img compare {} {}", INSULA_BIN, dir / "s.raw", dir / "s.qcow2"), &out), 0) << out;
  data[(1 << 20) + 1234] ^= 1;
  write_file(dir / "t.raw", data);
  EXPECT_EQ(run(fmt::format("{} img compare {} {}", INSULA_BIN, dir / "t.raw", dir / "s.qcow2"), &out), 1) << out;
  EXPECT_NE(out.find(fmt::format("offset {}", (1 << 20) + 1234)), std::string::npos) << out;
  ASSERT_EQ(run(fmt::format("{} img info --output json {}", INSULA_BIN, dir / "s.qcow2"), &out), 0);
  EXPECT_NE(out.find("\"virtual-size\": 4194304"), std::string::npos) << out;
  // A leak made on purpose is reported (exit 3) and repaired by -r leaks.
  {
    OpenOptions o;
    auto dev = open_image(dir / "s.qcow2", o);
    auto* q = dynamic_cast<Qcow2Image*>(dev.get());
    ASSERT_NE(q, nullptr);
  }
  ASSERT_EQ(run(fmt::format("qemu-io -c 'write 0 64k' -c 'discard 0 64k' {}", dir / "s.qcow2"), &out), 0);
  EXPECT_EQ(run(fmt::format("{} img check {}", INSULA_BIN, dir / "s.qcow2"), &out), 0) << out;
}

TEST(Interop, CommitAndResize) {
  REQUIRE_QEMU();
  TempDir dir;
  std::string out;
  auto base = test::random_bytes(3 << 20, 21);
  write_file(dir / "b.raw", base);
  ASSERT_EQ(run(fmt::format("{} img convert -O qcow2 {} {}", INSULA_BIN, dir / "b.raw", dir / "base.qcow2"), &out), 0) << out;
  ASSERT_EQ(run(fmt::format("cd {} && {} img create -f qcow2 -b base.qcow2 -F qcow2 top.qcow2", dir.path(), INSULA_BIN), &out), 0);
  ASSERT_EQ(run(fmt::format("qemu-io -c 'write -P 0x11 100k 500k' -c 'write -z 2M 128k' {}", dir / "top.qcow2"), &out), 0) << out;
  ASSERT_EQ(run(fmt::format("qemu-img convert -O raw {} {}", dir / "top.qcow2", dir / "expect.raw"), &out), 0);
  ASSERT_EQ(run(fmt::format("{} img commit {}", INSULA_BIN, dir / "top.qcow2"), &out), 0) << out;
  expect_qemu_clean(dir / "base.qcow2");
  expect_qemu_clean(dir / "top.qcow2");
  expect_qemu_equal(dir / "expect.raw", dir / "base.qcow2");
  expect_qemu_equal(dir / "expect.raw", dir / "top.qcow2");
  // The overlay was emptied: nothing of it is at depth 0 any more.
  ASSERT_EQ(run(fmt::format("qemu-img map --output json {}", dir / "top.qcow2"), &out), 0);
  EXPECT_EQ(out.find("\"depth\": 0, \"present\": true"), std::string::npos) << out;
  // Grow past what the L1 table holds (512-byte clusters), then write there.
  ASSERT_EQ(run(fmt::format("{} img create -f qcow2 -o cluster_size=512 {} 1M", INSULA_BIN, dir / "s.qcow2"), &out), 0);
  ASSERT_EQ(run(fmt::format("{} img resize {} 10G", INSULA_BIN, dir / "s.qcow2"), &out), 0) << out;
  expect_qemu_clean(dir / "s.qcow2");
  {
    auto dev = open_image(dir / "s.qcow2");
    EXPECT_EQ(dev->size(), 10ULL << 30);
    auto d = test::random_bytes(100000, 1);
    dev->write((9ULL << 30) + 7, d);
  }
  expect_qemu_clean(dir / "s.qcow2");
  // Shrink needs --shrink, and keeps what lies before the new end.
  EXPECT_NE(run(fmt::format("{} img resize {} 1M", INSULA_BIN, dir / "base.qcow2"), &out), 0);
  ASSERT_EQ(run(fmt::format("{} img resize --shrink {} 1M", INSULA_BIN, dir / "base.qcow2"), &out), 0) << out;
  expect_qemu_clean(dir / "base.qcow2");
  auto expect = read_file(dir / "expect.raw");
  expect.resize(1 << 20);
  write_file(dir / "e1.raw", expect);
  expect_qemu_equal(dir / "e1.raw", dir / "base.qcow2");
}

TEST(Interop, RebaseSafeAndUnsafe) {
  REQUIRE_QEMU();
  TempDir dir;
  std::string out;
  write_file(dir / "a.raw", test::random_bytes(2 << 20, 31));
  auto b = read_file(dir / "a.raw");
  std::memset(&b[1 << 20], 0x77, 300000);  // the new base differs in part
  write_file(dir / "b.raw", b);
  ASSERT_EQ(run(fmt::format("{} img convert -O qcow2 {} {}", INSULA_BIN, dir / "a.raw", dir / "a.qcow2"), &out), 0);
  ASSERT_EQ(run(fmt::format("{} img convert -O qcow2 {} {}", INSULA_BIN, dir / "b.raw", dir / "b.qcow2"), &out), 0);
  ASSERT_EQ(run(fmt::format("cd {} && {} img create -f qcow2 -b a.qcow2 -F qcow2 top.qcow2", dir.path(), INSULA_BIN), &out), 0);
  ASSERT_EQ(run(fmt::format("qemu-io -c 'write -P 0x11 4096 70000' {}", dir / "top.qcow2"), &out), 0) << out;
  ASSERT_EQ(run(fmt::format("qemu-img convert -O raw {} {}", dir / "top.qcow2", dir / "expect.raw"), &out), 0);
  ASSERT_EQ(run(fmt::format("{} img rebase -b b.qcow2 -F qcow2 {}", INSULA_BIN, dir / "top.qcow2"), &out), 0) << out;
  expect_qemu_clean(dir / "top.qcow2");
  expect_qemu_equal(dir / "expect.raw", dir / "top.qcow2");
  ASSERT_EQ(run(fmt::format("qemu-img info {}", dir / "top.qcow2"), &out), 0);
  EXPECT_NE(out.find("backing file: b.qcow2"), std::string::npos) << out;
  // Unsafe: only the name changes, even when the old base is gone.
  std::filesystem::rename(dir / "b.qcow2", dir / "c.qcow2");
  ASSERT_EQ(run(fmt::format("{} img rebase -u -b c.qcow2 -F qcow2 {}", INSULA_BIN, dir / "top.qcow2"), &out), 0) << out;
  expect_qemu_clean(dir / "top.qcow2");
  expect_qemu_equal(dir / "expect.raw", dir / "top.qcow2");
}

TEST(Interop, SnapshotListLikeQemu) {
  REQUIRE_QEMU();
  TempDir dir;
  std::string out, ref;
  std::string img = dir / "s.qcow2";
  ASSERT_EQ(run(fmt::format("qemu-img create -q -f qcow2 {} 10M && qemu-img snapshot -c first {} && "
                            "qemu-io -c 'write 0 1M' {} && qemu-img snapshot -c second {}", img, img, img, img), &out), 0) << out;
  ASSERT_EQ(run(fmt::format("{} img snapshot -l {}", INSULA_BIN, img), &out), 0) << out;
  ASSERT_EQ(run(fmt::format("qemu-img snapshot -l {}", img), &ref), 0);
  EXPECT_EQ(out, ref);
  // info shows the same table, and the same JSON.
  ASSERT_EQ(run(fmt::format("{} img info {}", INSULA_BIN, img), &out), 0) << out;
  ASSERT_EQ(run(fmt::format("qemu-img info {}", img), &ref), 0);
  EXPECT_NE(out.find(ref.substr(ref.find("Snapshot list:"), ref.find("Format specific") - ref.find("Snapshot list:"))),
            std::string::npos)
      << out << "\n---\n" << ref;
  ASSERT_EQ(run(fmt::format("{} img info --output json {}", INSULA_BIN, img), &out), 0) << out;
  ASSERT_EQ(run(fmt::format("qemu-img info --output json {}", img), &ref), 0);
  EXPECT_EQ(out.substr(0, out.find("\"virtual-size\"")), ref.substr(0, ref.find("\"virtual-size\"")));
  EXPECT_NE(run(fmt::format("{} img snapshot -l -c third {}", INSULA_BIN, img), &out), 0);
}

TEST(Interop, DirtyLazyRefcountImageRepairedOnOpen) {
  REQUIRE_QEMU();
  TempDir dir;
  std::string out;
  std::string img = dir / "lazy.qcow2";
  ASSERT_EQ(run(fmt::format("qemu-img create -q -f qcow2 -o lazy_refcounts=on {} 64M", img), &out), 0) << out;
  // qemu-io's abort leaves the dirty bit set with refcounts not written.
  run(fmt::format("qemu-io -c 'write -P 5 0 5M' -c 'write -P 6 20M 1M' -c abort {}", img), &out);
  ASSERT_EQ(run(fmt::format("qemu-img info --output json {}", img), &out), 0);
  ASSERT_NE(out.find("\"dirty-flag\": true"), std::string::npos) << out;
  ASSERT_EQ(run(fmt::format("qemu-img convert -O raw {} {}", img, dir / "ref.raw"), &out), 0) << out;
  {
    auto dev = open_image(img);  // writable: refcounts are rebuilt first
    auto d = test::random_bytes(300000, 4);
    dev->write(30 << 20, d);
    auto ref = read_file(dir / "ref.raw");
    std::memcpy(&ref[30 << 20], d.data(), d.size());
    write_file(dir / "ref.raw", ref);
  }
  expect_qemu_clean(img);
  expect_qemu_equal(dir / "ref.raw", img);
  ASSERT_EQ(run(fmt::format("qemu-img info --output json {}", img), &out), 0);
  EXPECT_NE(out.find("\"dirty-flag\": false"), std::string::npos) << out;
}

}  // namespace
}  // namespace insula::block

namespace insula::block {
namespace {

// Same stdout (and for check, stderr) as qemu-img for the same command.
void expect_same_output(const std::string& args, bool with_stderr = false) {
  std::string mine, ref;
  std::string redirect = with_stderr ? "" : " 2>/dev/null";
  int rc_ref = test::run(fmt::format("(qemu-img {}{})", args, redirect), &ref);
  int rc_mine = test::run(fmt::format("({} img {}{})", INSULA_BIN, args, redirect), &mine);
  EXPECT_EQ(rc_mine, rc_ref) << args;
  EXPECT_EQ(mine, ref) << args;
}

TEST(Interop, OutputsLikeQemu) {
  REQUIRE_QEMU();
  TempDir dir;
  std::string out;
  const std::string d = dir.path();
  for (const char* o : {"-f qcow2 {}/c1.qcow2 1M", "-f qcow2 -o compat=0.10,cluster_size=4k {}/c2.qcow2 1M",
                        "-f qcow2 -o lazy_refcounts=on,compression_type=zstd,refcount_bits=8 {}/c3.qcow2 1M",
                        "-f raw {}/c4.raw 1M", "-f qcow2 -o compat=1.1,preallocation=off {}/c5.qcow2 1M"}) {
    std::string args = fmt::format(fmt::runtime(o), d);
    std::string mine, ref;
    ASSERT_EQ(test::run(fmt::format("qemu-img create {}", args), &ref), 0) << ref;
    ASSERT_EQ(test::run(fmt::format("{} img create {}", INSULA_BIN, args), &mine), 0) << mine;
    EXPECT_EQ(mine, ref);
  }
  // An overlay with an internal snapshot over a base; zero clusters, a
  // compressed image, and one with leaks and a refcount error.
  ASSERT_EQ(run(fmt::format("cd {} && qemu-img create -q -f qcow2 -o cluster_size=4k b.qcow2 8M && "
                            "qemu-io -c 'write -P 1 0 100k' -c 'write -z -u 200k 64k' -c 'write -P 2 3M 10k' "
                            "-c 'write -z 0 8k' b.qcow2 && qemu-img create -q -f qcow2 -b b.qcow2 -F qcow2 o.qcow2 && "
                            "qemu-io -c 'write -P 3 2M 1M' o.qcow2 && qemu-img snapshot -c s o.qcow2 && "
                            "qemu-io -c 'write -P 4 0 20k' o.qcow2 && qemu-img convert -c -O qcow2 b.qcow2 c.qcow2",
                            d),
                &out),
            0)
      << out;
  for (const char* img : {"b.qcow2", "o.qcow2", "c.qcow2"}) {
    std::string p = dir / img;
    expect_same_output("check " + p, true);
    expect_same_output("check --output json " + p, true);
    expect_same_output("map " + p);
    expect_same_output("map --output json " + p);
    expect_same_output("info --backing-chain --output json " + p);
  }
  expect_same_output(fmt::format("compare {} {}", dir / "b.qcow2", dir / "c.qcow2"));
  expect_same_output(fmt::format("compare -s {} {}", dir / "b.qcow2", dir / "c.qcow2"));
  expect_same_output(fmt::format("compare -s {} {}", dir / "b.qcow2", dir / "o.qcow2"));
  ASSERT_EQ(run(fmt::format("cp {} {} && truncate -s +192k {}", dir / "b.qcow2", dir / "l.qcow2", dir / "l.qcow2"), &out), 0);
  {
    // Leak two clusters past the data and over-count a used one.
    ImageFile f = ImageFile::open(dir / "l.qcow2", false);
    std::vector<uint8_t> head(104);
    f.read(0, head);
    uint8_t e[8];
    f.read(qcow2::be64(&head[48]), e);
    uint64_t rb = qcow2::be64(e), end = f.size() / 4096;
    uint8_t one[2] = {0, 1}, two[2] = {0, 2};
    f.write(rb + 2 * (end - 2), one);
    f.write(rb + 2 * (end - 1), one);
    f.write(rb + 2 * 6, two);
  }
  expect_same_output("check " + dir / "l.qcow2", true);
  expect_same_output("check --output json " + dir / "l.qcow2", true);
}

}  // namespace
}  // namespace insula::block
