// measure_image(): `qemu-img measure` - the file size a new raw or qcow2
// image needs, by qemu-img's formulas (block/qcow2.c qcow2_measure and
// qcow2_calc_prealloc_size, block/raw-format.c raw_measure), so both tools
// give the same numbers for the same inputs.
#include "base/error.h"
#include "block/image_ops.h"

namespace insula::block {
namespace {

uint64_t round_up(uint64_t v, uint64_t to) { return (v + to - 1) / to * to; }

// Refcount table and blocks for `clusters` clusters, themselves included: the
// fixed point where no more blocks or table clusters are needed.
uint64_t refcount_metadata_bytes(uint64_t clusters, uint64_t cs, uint32_t refcount_order) {
  const uint64_t blocks_per_table_cluster = cs / 8;
  const uint64_t refcounts_per_block = cs * 8 >> refcount_order;
  uint64_t table = 0, blocks = 0, n = 0, last = 0;
  do {
    last = n;
    blocks = (clusters + table + blocks + refcounts_per_block - 1) / refcounts_per_block;
    table = (blocks + blocks_per_table_cluster - 1) / blocks_per_table_cluster;
    n = clusters + blocks + table;
  } while (n != last);
  return (blocks + table) * cs;
}

// Every byte of a fully allocated qcow2 image: header, L2 and L1 tables,
// refcount metadata, data.
uint64_t qcow2_fully_allocated(uint64_t virtual_size, uint64_t cs, uint32_t refcount_order) {
  uint64_t meta = cs;  // header
  uint64_t l2_entries = round_up(virtual_size / cs, cs / 8);
  meta += l2_entries * 8;
  uint64_t l1_entries = round_up(l2_entries * 8 / cs, cs / 8);
  meta += l1_entries * 8;
  meta += refcount_metadata_bytes((meta + virtual_size) / cs, cs, refcount_order);
  return meta + virtual_size;
}

}  // namespace

MeasureResult measure_image(const MeasureRequest& req) {
  if (!req.source.empty() && req.size) throw error("--size cannot be used together with a filename");
  if (req.source.empty() && !req.size && !req.options.size)
    throw error("give either --size N or one image to measure");
  std::unique_ptr<BlockDevice> src;
  if (!req.source.empty()) {
    OpenOptions o;
    o.read_only = true;
    o.format = req.source_format;
    src = open_image(req.source, o);
  }
  const uint64_t size = src ? src->size() : req.size.value_or(req.options.size.value_or(0));
  MeasureResult r;
  if (req.dest_format == "raw") {
    if (req.options.cluster_size || req.options.version || req.options.refcount_bits)
      throw error("raw images take no format options");
    // qemu-img counts whole 512-byte sectors; holes count too.
    r.required = r.fully_allocated = round_up(size, 512);
    return r;
  }
  if (req.dest_format != "qcow2") throw error("unknown format '{}' (use raw or qcow2)", req.dest_format);

  const uint64_t cs = req.options.cluster_size.value_or(65536);
  if (cs < 512 || cs > (1ULL << qcow2::kMaxClusterBits) || (cs & (cs - 1)))
    throw error("cluster size {} is invalid: it must be a power of two between 512 and 2M", cs);
  const uint32_t version = req.options.version.value_or(3);
  const uint32_t refcount_bits = req.options.refcount_bits.value_or(16);
  if (refcount_bits > 64 || (refcount_bits & (refcount_bits - 1)) || refcount_bits == 0)
    throw error("refcount_bits {} is invalid: it must be a power of two up to 64", refcount_bits);
  if (version < 3 && refcount_bits != 16) throw error("refcount_bits other than 16 needs compat=1.1 (qcow2 v3)");
  const uint32_t refcount_order = static_cast<uint32_t>(__builtin_ctz(refcount_bits));

  uint64_t virtual_size = round_up(size, cs);
  if (round_up(virtual_size / cs, cs / 8) / (cs / 8) * 8 > qcow2::kMaxL1Bytes)
    throw error("size {} is too large for cluster size {} (try a larger cluster size)", size, cs);
  uint64_t required = 0;  // data clusters
  if (src) {
    if (req.options.backing_file) {
      // Unknown how much the new backing file shares with the source: assume
      // nothing (as qemu-img).
      required = virtual_size;
    } else {
      // Every cluster holding data through the whole chain; zeros need none.
      for (uint64_t pos = 0; pos < size;) {
        Extent e = src->block_status(pos, size - pos);
        uint64_t n = std::max<uint64_t>(1, e.length);
        if (e.kind == Extent::Kind::kData) {
          n = round_up(pos + n, cs) - pos;
          required += pos % cs + n;
        }
        pos += n;
      }
    }
  }
  const std::string prealloc = req.options.preallocation.value_or("off");
  if (prealloc == "full" || prealloc == "falloc") required = virtual_size;
  r.fully_allocated = qcow2_fully_allocated(virtual_size, cs, refcount_order);
  r.required = r.fully_allocated - virtual_size + required;
  // qemu-img reports bitmaps when both sides could carry persistent bitmaps;
  // insula copies none, and counts none.
  if (version >= 3 && src && src->format() == "qcow2" &&
      dynamic_cast<Qcow2Image*>(src.get())->header().version >= 3)
    r.bitmaps = 0;
  return r;
}

}  // namespace insula::block
