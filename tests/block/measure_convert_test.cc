// `insula img measure` prints what `qemu-img measure` prints for the same
// inputs; `insula img convert -B` writes an overlay that qemu-img finds clean
// and equal to the source, holding only the clusters that differ.
#include <cstring>

#include "block/image_ops.h"
#include "interop_util.h"

namespace insula::block {
namespace {

using test::expect_qemu_clean;
using test::read_file;
using test::run;
using test::TempDir;
using test::write_file;

TEST(MeasureInterop, SameNumbersAsQemu) {
  REQUIRE_QEMU();
  TempDir dir;
  std::string out, ref;
  // A sparse raw file with data in places, a qcow2 v3 and v2 copy, an overlay.
  std::vector<uint8_t> d(40 << 20, 0);
  auto r = test::random_bytes(3 << 20, 1);
  std::memcpy(&d[1 << 20], r.data(), r.size());
  std::memcpy(&d[(20 << 20) + 1000], r.data(), 5000);
  write_file(dir / "s.raw", d);
  ASSERT_EQ(run(fmt::format("fallocate -d {}", dir / "s.raw"), &out), 0) << out;
  ASSERT_EQ(run(fmt::format("qemu-img convert -O qcow2 {} {}", dir / "s.raw", dir / "s3.qcow2"), &out), 0) << out;
  ASSERT_EQ(run(fmt::format("qemu-img convert -O qcow2 -o compat=0.10 {} {}", dir / "s.raw", dir / "s2.qcow2"), &out), 0);
  ASSERT_EQ(run(fmt::format("cd {} && qemu-img create -q -f qcow2 -b s3.qcow2 -F qcow2 top.qcow2 && "
                            "qemu-io -c 'write -P 3 30M 1M' -c 'write -z 1M 64k' top.qcow2",
                            dir.path()),
                &out),
            0)
      << out;
  const std::string cases[] = {
      "--size 1G -O qcow2",
      "--size 1G -O qcow2 --output json",
      "--size 1G",
      "--size 1000 --output json",
      "--size 10G -O qcow2 -o cluster_size=512",
      "--size 100T -O qcow2 -o cluster_size=2M,refcount_bits=64",
      "--size 5G -O qcow2 -o cluster_size=4k,refcount_bits=1",
      "--size 3G -O qcow2 -o preallocation=full",
      "-O qcow2 " + dir / "s.raw",
      "-O qcow2 --output json " + dir / "s.raw",
      dir / "s.raw",
      "-O qcow2 -o cluster_size=4k,refcount_bits=8 " + dir / "s.raw",
      "-O qcow2 " + dir / "s3.qcow2",
      "-O qcow2 --output json " + dir / "s3.qcow2",
      "-O qcow2 " + dir / "s2.qcow2",
      "-O qcow2 -o compat=0.10 " + dir / "s3.qcow2",
      "-O qcow2 " + dir / "top.qcow2",
      "-O qcow2 -o backing_file=x " + dir / "s.raw",
      "-O raw -f qcow2 " + dir / "top.qcow2",
  };
  for (const std::string& c : cases) {
    ASSERT_EQ(run(fmt::format("qemu-img measure {}", c), &ref), 0) << c << "\n" << ref;
    ASSERT_EQ(run(fmt::format("{} img measure {}", INSULA_BIN, c), &out), 0) << c << "\n" << out;
    EXPECT_EQ(out, ref) << c;
  }
  EXPECT_NE(run(fmt::format("{} img measure --size 1G {}", INSULA_BIN, dir / "s.raw"), &out), 0);
  EXPECT_NE(run(fmt::format("{} img measure -O qcow2", INSULA_BIN), &out), 0);
  EXPECT_NE(run(fmt::format("{} img measure --size 1P -O qcow2 -o cluster_size=512", INSULA_BIN), &out), 0);
}

// Clusters allocated in the image itself (depth 0), from qemu-img map.
uint64_t own_data_bytes(const std::string& img) {
  std::string out;
  run(fmt::format("qemu-img map --output json {}", img), &out);
  uint64_t total = 0;
  for (size_t p = 0; (p = out.find("\"start\"", p)) != std::string::npos; ++p) {
    size_t e = out.find('}', p);
    std::string row = out.substr(p, e - p);
    if (row.find("\"depth\": 0") != std::string::npos && row.find("\"data\": true") != std::string::npos)
      total += std::stoull(row.substr(row.find("\"length\": ") + 10));
  }
  return total;
}

TEST(ConvertBacking, OverlayHoldsOnlyWhatDiffers) {
  REQUIRE_QEMU();
  TempDir dir;
  std::string out;
  std::vector<uint8_t> base = test::random_bytes(8 << 20, 7);
  std::memset(&base[6 << 20], 0, 1 << 20);
  write_file(dir / "base.raw", base);
  ASSERT_EQ(run(fmt::format("qemu-img convert -O qcow2 {} {}", dir / "base.raw", dir / "base.qcow2"), &out), 0);
  // The source: the base with a few changes, data over the base's zeros, and
  // zeros over its data; and 1 MiB longer.
  std::vector<uint8_t> src = base;
  src.resize(9 << 20, 0);
  std::memset(&src[100000], 0x42, 5000);          // inside cluster 1
  std::memset(&src[3 << 20], 0, 65536);             // a whole cluster of zeros
  std::memset(&src[(6 << 20) + 70000], 0x17, 10);  // data where the base is zero
  std::memset(&src[(8 << 20) + 5], 0x99, 100);      // past the end of the base
  write_file(dir / "src.raw", src);
  ASSERT_EQ(run(fmt::format("cd {} && {} img convert -O qcow2 -B base.qcow2 -F qcow2 src.raw out.qcow2", dir.path(),
                            INSULA_BIN),
                &out),
            0)
      << out;
  expect_qemu_clean(dir / "out.qcow2");
  test::expect_qemu_equal(dir / "src.raw", dir / "out.qcow2");
  ASSERT_EQ(run(fmt::format("qemu-img info {}", dir / "out.qcow2"), &out), 0);
  EXPECT_NE(out.find("backing file: base.qcow2"), std::string::npos) << out;
  EXPECT_NE(out.find("backing file format: qcow2"), std::string::npos) << out;
  EXPECT_EQ(own_data_bytes(dir / "out.qcow2"), 3u * 65536);  // three clusters with data; one zero cluster

  // Compressed, and with the base's format detected.
  ASSERT_EQ(run(fmt::format("cd {} && {} img convert -c -O qcow2 -B base.qcow2 src.raw outc.qcow2", dir.path(),
                            INSULA_BIN),
                &out),
            0)
      << out;
  expect_qemu_clean(dir / "outc.qcow2");
  test::expect_qemu_equal(dir / "src.raw", dir / "outc.qcow2");

  // A source that is itself an overlay of the same base: what it inherits is
  // not read or copied, only its own clusters are.
  ASSERT_EQ(run(fmt::format("cd {} && qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 top.qcow2 && "
                            "qemu-io -c 'write -P 5 2M 128k' top.qcow2 && {} img convert -O qcow2 -B base.qcow2 "
                            "top.qcow2 copy.qcow2",
                            dir.path(), INSULA_BIN),
                &out),
            0)
      << out;
  expect_qemu_clean(dir / "copy.qcow2");
  ASSERT_EQ(run(fmt::format("qemu-img compare {} {}", dir / "top.qcow2", dir / "copy.qcow2"), &out), 0) << out;
  EXPECT_EQ(own_data_bytes(dir / "copy.qcow2"), 131072u);
  EXPECT_NE(run(fmt::format("{} img convert -O raw -B {} {} {}", INSULA_BIN, dir / "base.qcow2", dir / "src.raw",
                            dir / "x.raw"),
                &out),
            0);
}

}  // namespace
}  // namespace insula::block
