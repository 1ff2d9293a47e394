// Unit tests: qcow2 header parsing/serialisation and option parsing.
#include <gtest/gtest.h>

#include "base/error.h"
#include "block/image_ops.h"
#include "block/qcow2_format.h"

namespace insula::block::qcow2 {
namespace {

Header sample() {
  Header h;
  h.size = 1 << 30;
  h.cluster_bits = 16;
  h.l1_size = static_cast<uint32_t>(l1_entries_for(h.size, h.cluster_bits));
  h.l1_table_offset = 3 << 16;
  h.refcount_table_offset = 1 << 16;
  h.refcount_table_clusters = 1;
  return h;
}

TEST(Qcow2Header, RoundTripV3WithBackingAndUnknownExtension) {
  Header h = sample();
  h.backing_file = "base.qcow2";
  h.backing_format = "qcow2";
  h.other_extensions.push_back({0x12345678, {1, 2, 3}});
  std::vector<uint8_t> raw = serialize_header(h);
  raw.resize(1 << 16);
  Header p = parse_header(raw, 4 << 16, "t");
  EXPECT_EQ(p.version, 3u);
  EXPECT_EQ(p.size, h.size);
  EXPECT_EQ(p.backing_file, "base.qcow2");
  EXPECT_EQ(p.backing_format, "qcow2");
  ASSERT_EQ(p.other_extensions.size(), 1u);
  EXPECT_EQ(p.other_extensions[0].type, 0x12345678u);
  EXPECT_EQ(p.other_extensions[0].data, (std::vector<uint8_t>{1, 2, 3}));
  EXPECT_FALSE(p.feature_names.empty());
}

TEST(Qcow2Header, RoundTripV2) {
  Header h = sample();
  h.version = 2;
  std::vector<uint8_t> raw = serialize_header(h);
  raw.resize(1 << 16);
  Header p = parse_header(raw, 4 << 16, "t");
  EXPECT_EQ(p.version, 2u);
  EXPECT_EQ(p.refcount_order, 4u);
  EXPECT_EQ(p.header_length, 72u);
}

TEST(Qcow2Header, RejectsHostileFields) {
  auto mutate = [](auto f) {
    Header h = sample();
    std::vector<uint8_t> raw = serialize_header(h);
    raw.resize(1 << 16);
    f(raw);
    return raw;
  };
  auto fails = [](std::vector<uint8_t> raw) {
    EXPECT_THROW(parse_header(raw, 4 << 16, "t"), Error);
  };
  fails(mutate([](auto& r) { put32(&r[0], 0x12345678); }));         // magic
  fails(mutate([](auto& r) { put32(&r[4], 4); }));                  // version
  fails(mutate([](auto& r) { put32(&r[20], 30); }));                // cluster bits
  fails(mutate([](auto& r) { put32(&r[20], 8); }));
  fails(mutate([](auto& r) { put64(&r[24], 1ULL << 62); }));        // size
  fails(mutate([](auto& r) { put32(&r[36], 0x7fffffff); }));        // huge L1
  fails(mutate([](auto& r) { put32(&r[36], 1); }));                 // L1 too small
  fails(mutate([](auto& r) { put64(&r[40], 0); }));                 // L1 at header
  fails(mutate([](auto& r) { put64(&r[40], 12345); }));             // unaligned
  fails(mutate([](auto& r) { put64(&r[40], 1ULL << 40); }));        // beyond file
  fails(mutate([](auto& r) { put64(&r[48], 0); }));                 // reftable at header
  fails(mutate([](auto& r) { put32(&r[56], 0x10000000); }));        // huge reftable
  fails(mutate([](auto& r) { put32(&r[96], 7); }));                 // refcount order
  fails(mutate([](auto& r) { put32(&r[100], 99); }));               // header length
  fails(mutate([](auto& r) { put32(&r[32], 1); }));                 // encryption
  fails(mutate([](auto& r) { put64(&r[8], 70000); put32(&r[16], 10); }));  // backing name outside
  fails(mutate([](auto& r) { put32(&r[112], 0xe2792aca); put32(&r[116], 0xfffffff0); }));  // extension overrun
  fails(std::vector<uint8_t>(10, 0));
}

TEST(FormatOptions, Parses) {
  auto o = parse_format_options("cluster_size=2M,compat=0.10,refcount_bits=64,lazy_refcounts=on");
  EXPECT_EQ(*o.cluster_size, 2u << 20);
  EXPECT_EQ(*o.version, 2u);
  EXPECT_EQ(*o.refcount_bits, 64u);
  EXPECT_TRUE(*o.lazy_refcounts);
  EXPECT_THROW(parse_format_options("bogus=1"), Error);
  EXPECT_THROW(parse_format_options("compat=9"), Error);
}

}  // namespace
}  // namespace insula::block::qcow2
