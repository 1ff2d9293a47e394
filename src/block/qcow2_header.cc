// qcow2 header parsing (with every field checked against hostile values) and
// serialisation, including header extensions and the backing file name.
#include <algorithm>

#include "base/error.h"
#include "block/qcow2_format.h"

namespace insula::block::qcow2 {

uint64_t l1_entries_for(uint64_t size, uint32_t cluster_bits) {
  uint64_t l2_bits = cluster_bits - 3;
  uint64_t per_l1 = 1ULL << (cluster_bits + l2_bits);
  return (size + per_l1 - 1) / per_l1;
}

Header parse_header(std::span<const uint8_t> head, uint64_t file_size, const std::string& name) {
  auto bad = [&](const std::string& what) {
    return error("'{}' is not a valid qcow2 image: {}", name, what);
  };
  if (head.size() < 72) throw bad("file is shorter than the qcow2 header");
  const uint8_t* p = head.data();
  if (be32(p) != kMagic) throw bad("bad magic");
  Header h;
  h.version = be32(p + 4);
  if (h.version != 2 && h.version != 3)
    throw error("'{}': qcow2 version {} is not supported (only 2 and 3)", name, h.version);
  h.backing_file_offset = be64(p + 8);
  h.backing_file_size = be32(p + 16);
  h.cluster_bits = be32(p + 20);
  h.size = be64(p + 24);
  h.crypt_method = be32(p + 32);
  h.l1_size = be32(p + 36);
  h.l1_table_offset = be64(p + 40);
  h.refcount_table_offset = be64(p + 48);
  h.refcount_table_clusters = be32(p + 56);
  h.nb_snapshots = be32(p + 60);
  h.snapshots_offset = be64(p + 64);
  if (h.version == 2) {
    h.header_length = 72;
    h.refcount_order = 4;
  } else {
    if (head.size() < 104) throw bad("file is shorter than the qcow2 v3 header");
    h.incompatible_features = be64(p + 72);
    h.compatible_features = be64(p + 80);
    h.autoclear_features = be64(p + 88);
    h.refcount_order = be32(p + 96);
    h.header_length = be32(p + 100);
    if (h.header_length < 104 || h.header_length % 8 != 0) throw bad(fmt::format("bad header length {}", h.header_length));
  }
  if (h.cluster_bits < kMinClusterBits || h.cluster_bits > kMaxClusterBits)
    throw bad(fmt::format("cluster bits {} outside 9..21", h.cluster_bits));
  const uint64_t cs = h.cluster_size();
  if (h.header_length > cs || h.header_length > head.size()) throw bad("header longer than a cluster");
  if (h.header_length > 104) {
    h.compression_type = p[104];
    if (h.compression_type > kCompressionZstd) throw bad(fmt::format("unknown compression type {}", h.compression_type));
    if ((h.compression_type != 0) != ((h.incompatible_features & kIncompatCompression) != 0))
      throw bad("compression type and its incompatible feature bit disagree");
  }
  if (h.crypt_method != 0)
    throw error("'{}' is encrypted (method {}); encrypted qcow2 images are not supported", name, h.crypt_method);
  if (h.refcount_order > 6) throw bad(fmt::format("refcount order {} above 6", h.refcount_order));
  if (h.size > kMaxVirtualSize) throw bad(fmt::format("virtual size {} is too large", h.size));
  if (uint64_t{h.l1_size} * 8 > kMaxL1Bytes) throw bad(fmt::format("L1 table of {} entries is too large", h.l1_size));
  if (h.l1_size < l1_entries_for(h.size, h.cluster_bits)) throw bad("L1 table too small for the virtual size");
  auto check_table = [&](const char* what, uint64_t off, uint64_t bytes, bool must_exist) {
    if (!must_exist && bytes == 0) return;
    if (off % cs != 0) throw bad(fmt::format("{} offset {:#x} is not cluster aligned", what, off));
    if (off == 0) throw bad(fmt::format("{} overlaps the header", what));
    if (off > file_size || bytes > file_size - off)
      throw bad(fmt::format("{} at {:#x} ({} bytes) lies beyond the end of the file", what, off, bytes));
  };
  check_table("L1 table", h.l1_table_offset, uint64_t{h.l1_size} * 8, false);
  if (uint64_t{h.refcount_table_clusters} * cs > kMaxRefTableBytes || h.refcount_table_clusters == 0)
    throw bad(fmt::format("refcount table of {} clusters is invalid", h.refcount_table_clusters));
  check_table("refcount table", h.refcount_table_offset, uint64_t{h.refcount_table_clusters} * cs, true);
  if (h.nb_snapshots > kMaxSnapshots) throw bad(fmt::format("{} snapshots is too many", h.nb_snapshots));
  if (h.nb_snapshots) check_table("snapshot table", h.snapshots_offset, 1, true);

  if (h.backing_file_offset) {
    if (h.backing_file_size > kMaxBackingNameLength || h.backing_file_offset > cs ||
        h.backing_file_size > cs - h.backing_file_offset || h.backing_file_offset + h.backing_file_size > head.size())
      throw bad("backing file name lies outside the first cluster or is too long");
    h.backing_file.assign(reinterpret_cast<const char*>(p + h.backing_file_offset), h.backing_file_size);
  }

  // Header extensions run from header_length to the end of the first cluster
  // (or to the backing file name).
  uint64_t end = std::min<uint64_t>(head.size(), cs);
  if (h.backing_file_offset && h.backing_file_offset > h.header_length) end = std::min(end, h.backing_file_offset);
  uint64_t pos = h.header_length;
  while (pos + 8 <= end) {
    uint32_t type = be32(p + pos), len = be32(p + pos + 4);
    pos += 8;
    if (type == kExtEnd) break;
    if (len > end - pos) throw bad(fmt::format("header extension {:#x} runs past the first cluster", type));
    std::span<const uint8_t> data(p + pos, len);
    if (type == kExtBackingFormat) {
      h.backing_format.assign(data.begin(), data.end());
    } else if (type == kExtFeatureNames) {
      for (size_t i = 0; i + 48 <= len; i += 48) {
        const uint8_t* f = data.data() + i;
        const char* n = reinterpret_cast<const char*>(f + 2);
        h.feature_names.push_back({f[0], f[1], std::string(n, strnlen(n, 46))});
      }
    } else {
      h.other_extensions.push_back({type, std::vector<uint8_t>(data.begin(), data.end())});
    }
    pos += (uint64_t{len} + 7) & ~7ULL;
  }
  return h;
}

namespace {

void add_extension(std::vector<uint8_t>& out, uint32_t type, std::span<const uint8_t> data) {
  size_t at = out.size();
  out.resize(at + 8 + ((data.size() + 7) & ~size_t{7}), 0);
  put32(&out[at], type);
  put32(&out[at + 4], static_cast<uint32_t>(data.size()));
  std::copy(data.begin(), data.end(), out.begin() + static_cast<ptrdiff_t>(at + 8));
}

struct KnownFeature {
  uint8_t type, bit;
  const char* name;
};
constexpr KnownFeature kKnownFeatures[] = {
    {0, 0, "dirty bit"},          {0, 1, "corrupt bit"}, {0, 2, "external data file"},
    {0, 3, "compression type"},   {0, 4, "extended L2 entries"}, {1, 0, "lazy refcounts"},
    {2, 0, "bitmaps"},            {2, 1, "raw external data"},
};

}  // namespace

std::vector<uint8_t> serialize_header(Header& h) {
  const uint64_t cs = h.cluster_size();
  if (h.version == 2) h.header_length = 72;
  else h.header_length = std::max<uint32_t>(h.header_length, 112);
  std::vector<uint8_t> out(h.header_length, 0);
  uint8_t* p = out.data();
  put32(p, kMagic);
  put32(p + 4, h.version);
  put32(p + 20, h.cluster_bits);
  put64(p + 24, h.size);
  put32(p + 32, h.crypt_method);
  put32(p + 36, h.l1_size);
  put64(p + 40, h.l1_table_offset);
  put64(p + 48, h.refcount_table_offset);
  put32(p + 56, h.refcount_table_clusters);
  put32(p + 60, h.nb_snapshots);
  put64(p + 64, h.snapshots_offset);
  if (h.version == 3) {
    put64(p + 72, h.incompatible_features);
    put64(p + 80, h.compatible_features);
    put64(p + 88, h.autoclear_features);
    put32(p + 96, h.refcount_order);
    put32(p + 100, h.header_length);
    p[104] = h.compression_type;
  }
  if (!h.backing_format.empty())
    add_extension(out, kExtBackingFormat,
                  std::span(reinterpret_cast<const uint8_t*>(h.backing_format.data()), h.backing_format.size()));
  for (const auto& e : h.other_extensions) add_extension(out, e.type, e.data);
  if (h.version == 3) {
    std::vector<uint8_t> table(std::size(kKnownFeatures) * 48, 0);
    for (size_t i = 0; i < std::size(kKnownFeatures); ++i) {
      table[i * 48] = kKnownFeatures[i].type;
      table[i * 48 + 1] = kKnownFeatures[i].bit;
      std::memcpy(&table[i * 48 + 2], kKnownFeatures[i].name, std::strlen(kKnownFeatures[i].name));
    }
    add_extension(out, kExtFeatureNames, table);
  }
  add_extension(out, kExtEnd, {});
  if (!h.backing_file.empty()) {
    if (h.backing_file.size() > kMaxBackingNameLength) throw error("backing file name '{}' is too long", h.backing_file);
    h.backing_file_offset = out.size();
    h.backing_file_size = static_cast<uint32_t>(h.backing_file.size());
    out.insert(out.end(), h.backing_file.begin(), h.backing_file.end());
  } else {
    h.backing_file_offset = 0;
    h.backing_file_size = 0;
  }
  put64(out.data() + 8, h.backing_file_offset);
  put32(out.data() + 16, h.backing_file_size);
  if (out.size() > cs) throw error("qcow2 header with its extensions ({} bytes) does not fit in one cluster", out.size());
  return out;
}

std::string describe_incompatible(const Header& h, uint64_t bits) {
  std::string out;
  for (int b = 0; b < 64; ++b) {
    if (!(bits & (1ULL << b))) continue;
    std::string name = fmt::format("bit {}", b);
    for (const auto& f : h.feature_names)
      if (f.type == 0 && f.bit == b) name = f.name;
    if (name.rfind("bit ", 0) == 0)
      for (const auto& k : kKnownFeatures)
        if (k.type == 0 && k.bit == b) name = k.name;
    if (!out.empty()) out += ", ";
    out += name;
  }
  return out;
}

}  // namespace insula::block::qcow2
