// Opening and creating qcow2 images: feature checks, the dirty and corrupt
// bits, and the initial layout of a new image.
#include <cstring>

#include "base/error.h"
#include "base/log.h"
#include "block/qcow2.h"

namespace insula::block {

using namespace qcow2;

namespace detail {

std::unique_ptr<BlockDevice> open_qcow2(ImageFile file, const OpenOptions& options,
                                        const std::function<std::unique_ptr<BlockDevice>(const Header&)>& open_backing) {
  uint64_t file_size = file.size();
  std::vector<uint8_t> head(std::min<uint64_t>(file_size, 1ULL << kMaxClusterBits));
  file.read(0, head);
  Header h = parse_header(head, file_size, file.path());
  uint64_t unknown = h.incompatible_features & ~kIncompatSupported;
  if (unknown)
    throw error("'{}' uses qcow2 feature(s) insula does not support: {}; it cannot be opened", file.path(),
                describe_incompatible(h, unknown));
  if ((h.incompatible_features & kIncompatCorrupt) && !options.read_only)
    throw error("'{}' is marked corrupt; open it read-only, or repair it with `insula img check -r all`", file.path());
  if (!options.read_only && h.autoclear_features) {
    // Autoclear features we do not maintain (e.g. bitmaps) must be cleared
    // before we modify the image, so no one trusts stale data.
    h.autoclear_features = 0;
    uint8_t v[8] = {};
    file.write(88, v);
  }
  auto backing = h.backing_file.empty() ? nullptr : open_backing(h);
  bool dirty = (h.incompatible_features & kIncompatDirty) != 0;
  auto img = std::make_unique<Qcow2Image>(std::move(file), h, options.read_only, std::move(backing));
  if (dirty && !options.read_only) {
    // Refcounts may be stale (lazy refcounts): rebuild them before writing.
    CheckResult r = img->check(RepairMode::kAll);
    if (r.corruptions > r.corruptions_fixed)
      throw error("'{}' was not closed cleanly and its refcounts could not be repaired; run `insula img check -r all`",
                  img->path());
    ImageFile f = ImageFile::open(img->path(), false);
    uint8_t v[8];
    put64(v, h.incompatible_features & ~kIncompatDirty);
    f.write(72, v);
    f.sync();
    INSULA_LOG_INFO("repaired refcounts of '{}' (dirty bit was set)", img->path());
    return open_qcow2(ImageFile::open(img->path(), false), options, open_backing);
  }
  return img;
}

}  // namespace detail

void create_qcow2(const std::string& path, const Qcow2CreateOptions& o) {
  uint64_t cs = o.cluster_size;
  if (cs < 512 || cs > (1ULL << kMaxClusterBits) || (cs & (cs - 1)))
    throw error("cluster size {} is invalid: it must be a power of two between 512 and 2M", cs);
  if (o.version != 2 && o.version != 3) throw error("qcow2 version {} is invalid: use compat=0.10 (v2) or 1.1 (v3)", o.version);
  uint32_t order = 0;
  while ((1U << order) < o.refcount_bits) ++order;
  if ((1U << order) != o.refcount_bits || order > 6)
    throw error("refcount_bits {} is invalid: it must be a power of two up to 64", o.refcount_bits);
  if (o.version == 2 && order != 4) throw error("refcount_bits other than 16 needs compat=1.1 (qcow2 v3)");
  if (o.version == 2 && (o.lazy_refcounts || o.compression_type)) throw error("lazy refcounts and zstd need compat=1.1");
  if (o.size > kMaxVirtualSize) throw error("size {} is too large for qcow2", o.size);

  Header h;
  h.version = o.version;
  h.cluster_bits = static_cast<uint32_t>(__builtin_ctzll(cs));
  h.size = o.size;
  h.refcount_order = order;
  h.backing_file = o.backing_file;
  h.backing_format = o.backing_format;
  h.compression_type = o.compression_type;
  if (o.compression_type) h.incompatible_features |= kIncompatCompression;
  if (o.lazy_refcounts) h.compatible_features |= kCompatLazyRefcounts;
  uint64_t l1_entries = l1_entries_for(o.size, h.cluster_bits);
  if (l1_entries * 8 > kMaxL1Bytes) throw error("size {} is too large for cluster size {}", o.size, cs);
  h.l1_size = static_cast<uint32_t>(l1_entries);

  // Layout: header, refcount table, refcount blocks, L1 table.
  uint64_t per_block = cs * 8 / o.refcount_bits;
  uint64_t l1_clusters = (l1_entries * 8 + cs - 1) / cs;
  uint64_t rt = 1, rb = 1;
  for (;;) {
    uint64_t total = 1 + rt + rb + l1_clusters;
    uint64_t need_rb = (total + per_block - 1) / per_block;
    uint64_t need_rt = (need_rb * 8 + cs - 1) / cs;
    if (need_rb <= rb && need_rt <= rt) break;
    rb = std::max(rb, need_rb);
    rt = std::max(rt, need_rt);
  }
  uint64_t total = 1 + rt + rb + l1_clusters;
  h.refcount_table_offset = cs;
  h.refcount_table_clusters = static_cast<uint32_t>(rt);
  h.l1_table_offset = l1_clusters ? (1 + rt + rb) * cs : 0;
  if (!l1_clusters) h.l1_table_offset = 0;
  std::vector<uint8_t> header = serialize_header(h);

  ImageFile f = ImageFile::create(path);
  std::vector<uint8_t> buf(total * cs, 0);
  std::memcpy(buf.data(), header.data(), header.size());
  for (uint64_t b = 0; b < rb; ++b) put64(&buf[cs + b * 8], (1 + rt + b) * cs);
  // Refcount 1 for every metadata cluster, written with the generic packing
  // so that any refcount width works.
  for (uint64_t c = 0; c < total; ++c) {
    uint8_t* blk = &buf[(1 + rt + c / per_block) * cs];
    uint64_t i = c % per_block;
    switch (order) {
      case 0: blk[i / 8] |= static_cast<uint8_t>(1 << (i % 8)); break;
      case 1: blk[i / 4] |= static_cast<uint8_t>(1 << (2 * (i % 4))); break;
      case 2: blk[i / 2] |= static_cast<uint8_t>(1 << (4 * (i % 2))); break;
      case 3: blk[i] = 1; break;
      case 4: put16(blk + i * 2, 1); break;
      case 5: put32(blk + i * 4, 1); break;
      default: put64(blk + i * 8, 1); break;
    }
  }
  f.write(0, buf);
  f.sync();
}

}  // namespace insula::block
