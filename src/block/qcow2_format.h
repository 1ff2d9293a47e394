// The qcow2 on-disk format (QEMU docs/interop/qcow2.txt): header fields,
// header extensions, table entry bits, and big-endian helpers.
#pragma once

#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <vector>

namespace insula::block::qcow2 {

constexpr uint32_t kMagic = 0x514649fb;  // "QFI\xfb"
constexpr uint32_t kMinClusterBits = 9;
constexpr uint32_t kMaxClusterBits = 21;
constexpr uint64_t kMaxL1Bytes = 32 << 20;        // QEMU's QCOW_MAX_L1_SIZE
constexpr uint64_t kMaxRefTableBytes = 8 << 20;   // QEMU's QCOW_MAX_REFTABLE_SIZE
constexpr uint64_t kMaxVirtualSize = 1ULL << 56;  // host offsets have 56 bits
constexpr uint32_t kMaxBackingNameLength = 1023;
constexpr uint32_t kMaxSnapshots = 65536;

// Incompatible feature bits.
constexpr uint64_t kIncompatDirty = 1ULL << 0;
constexpr uint64_t kIncompatCorrupt = 1ULL << 1;
constexpr uint64_t kIncompatDataFile = 1ULL << 2;
constexpr uint64_t kIncompatCompression = 1ULL << 3;
constexpr uint64_t kIncompatExtendedL2 = 1ULL << 4;
constexpr uint64_t kIncompatSupported = kIncompatDirty | kIncompatCorrupt | kIncompatCompression;
// Compatible feature bits.
constexpr uint64_t kCompatLazyRefcounts = 1ULL << 0;

// Header extension types.
constexpr uint32_t kExtEnd = 0;
constexpr uint32_t kExtBackingFormat = 0xe2792aca;
constexpr uint32_t kExtFeatureNames = 0x6803f857;

// L1/L2 entry bits.
constexpr uint64_t kOffsetMask = 0x00fffffffffffe00ULL;  // bits 9-55
constexpr uint64_t kCopied = 1ULL << 63;
constexpr uint64_t kCompressed = 1ULL << 62;
constexpr uint64_t kZeroFlag = 1ULL << 0;
constexpr uint64_t kL1Reserved = 0x7f000000000001ffULL;  // bits 0-8, 56-62
constexpr uint64_t kL2Reserved = 0x3f000000000001feULL;  // bits 1-8, 56-61 (standard)
constexpr uint64_t kRefTableReserved = 0x1ffULL;

constexpr uint8_t kCompressionZlib = 0;
constexpr uint8_t kCompressionZstd = 1;

inline uint16_t be16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }
inline uint32_t be32(const uint8_t* p) {
  return uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 | p[3];
}
inline uint64_t be64(const uint8_t* p) { return uint64_t{be32(p)} << 32 | be32(p + 4); }
inline void put16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}
inline void put32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(v >> (24 - 8 * i));
}
inline void put64(uint8_t* p, uint64_t v) {
  put32(p, static_cast<uint32_t>(v >> 32));
  put32(p + 4, static_cast<uint32_t>(v));
}

struct HeaderExtension {
  uint32_t type = 0;
  std::vector<uint8_t> data;
};

struct Header {
  uint32_t version = 3;
  uint64_t backing_file_offset = 0;
  uint32_t backing_file_size = 0;
  uint32_t cluster_bits = 16;
  uint64_t size = 0;
  uint32_t crypt_method = 0;
  uint32_t l1_size = 0;
  uint64_t l1_table_offset = 0;
  uint64_t refcount_table_offset = 0;
  uint32_t refcount_table_clusters = 0;
  uint32_t nb_snapshots = 0;
  uint64_t snapshots_offset = 0;
  uint64_t incompatible_features = 0;
  uint64_t compatible_features = 0;
  uint64_t autoclear_features = 0;
  uint32_t refcount_order = 4;
  uint32_t header_length = 104;
  uint8_t compression_type = kCompressionZlib;

  std::string backing_file;
  std::string backing_format;
  // Extensions other than backing format and feature names, kept verbatim.
  std::vector<HeaderExtension> other_extensions;
  // Names from the feature name table: (type, bit) -> name.
  struct FeatureName {
    uint8_t type, bit;
    std::string name;
  };
  std::vector<FeatureName> feature_names;

  uint64_t cluster_size() const { return 1ULL << cluster_bits; }
};

// Parses and validates the header from the start of the file (at least the
// first cluster, or the whole file if shorter). Throws Error naming `name`.
Header parse_header(std::span<const uint8_t> head, uint64_t file_size, const std::string& name);

// Serialises header, extensions and backing file name to fit in one cluster;
// sets backing_file_offset/size. Throws if it does not fit.
std::vector<uint8_t> serialize_header(Header& h);

// How many L2 entries cover `size` bytes -> number of L1 entries needed.
uint64_t l1_entries_for(uint64_t size, uint32_t cluster_bits);

// Describes unsupported incompatible feature bits by name.
std::string describe_incompatible(const Header& h, uint64_t bits);

}  // namespace insula::block::qcow2
