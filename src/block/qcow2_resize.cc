// qcow2 resize (grow, growing the L1 table if needed; shrink dropping the
// clusters past the new end) and make_empty (after commit).
#include "base/error.h"
#include "block/qcow2.h"

namespace insula::block {

using namespace qcow2;

void Qcow2Image::resize(uint64_t new_size, bool allow_shrink) {
  check_writable();
  if (new_size > kMaxVirtualSize) throw error("size {} is too large for qcow2", new_size);
  uint64_t old_size = h_.size;
  if (new_size < old_size && !allow_shrink)
    throw error("shrinking '{}' would lose data past {} bytes; pass --shrink if that is intended", file_.path(), new_size);
  auto lk = exclusive();
  if (new_size < old_size) {
    uint64_t from = (new_size + cs_ - 1) & ~(cs_ - 1);
    if (from < old_size) set_entries(from, old_size - from, 0);
  }
  uint64_t need = l1_entries_for(new_size, h_.cluster_bits);
  if (need * 8 > kMaxL1Bytes) throw error("size {} is too large for cluster size {}", new_size, cs_);
  if (need > l1_.size()) {
    uint64_t old_clusters = (l1_.size() * 8 + cs_ - 1) / cs_;
    uint64_t capacity = old_clusters * cs_ / 8;
    uint64_t old_offset = h_.l1_table_offset;
    std::vector<uint64_t> l1 = l1_;
    l1.resize(need, 0);
    uint64_t offset = old_offset;
    if (need > capacity || old_clusters == 0) {
      uint64_t n = (need * 8 + cs_ - 1) / cs_;
      offset = refcounts().allocate(n);
      file_end_ = std::max<uint64_t>(file_end_, offset + n * cs_);
      std::vector<uint8_t> raw(n * cs_, 0);
      for (size_t i = 0; i < l1.size(); ++i) put64(&raw[i * 8], l1[i]);
      file_.write(offset, raw);
      file_.sync();
    }
    uint8_t hdr[12];
    put32(hdr, static_cast<uint32_t>(need));
    put64(hdr + 4, offset);
    file_.write(36, hdr);
    file_.sync();
    if (offset != old_offset && old_clusters) refcounts().release_bytes(old_offset, old_clusters * cs_);
    l1_ = std::move(l1);
    h_.l1_size = static_cast<uint32_t>(need);
    h_.l1_table_offset = offset;
  }
  uint8_t v[8];
  put64(v, new_size);
  file_.write(24, v);
  file_.sync();
  h_.size = new_size;
  if (new_size > old_size) {
    // Bytes past the old end must read as zeros: stale data in the last
    // cluster, or a longer backing file, would otherwise show through.
    uint64_t tail_end = std::min(new_size, (old_size + cs_ - 1) & ~(cs_ - 1));
    std::vector<uint8_t> zeros(tail_end - old_size, 0);
    if (!zeros.empty()) write_locked(old_size, zeros);
    if (backing_ && backing_size_ > tail_end) {
      if (h_.version < 3) throw error("growing a v2 image past the old end of a longer backing file is not supported");
      set_entries(tail_end, std::min(new_size, backing_size_) - tail_end, kZeroFlag);
    }
  }
}

void Qcow2Image::make_empty() {
  check_writable();
  auto lk = exclusive();
  set_entries(0, h_.size, 0);
}

}  // namespace insula::block

namespace insula::block {

void Qcow2Image::set_backing(const std::string& name, const std::string& format) {
  check_writable();
  auto lk = exclusive();
  qcow2::Header h = h_;
  if (refcounts_) {
    // The refcount table may have moved since open (it grows as the image does).
    h.refcount_table_offset = refcounts_->table_offset();
    h.refcount_table_clusters = static_cast<uint32_t>(refcounts_->table_clusters());
  }
  h.backing_file = name;
  h.backing_format = name.empty() ? std::string() : format;
  std::vector<uint8_t> raw = qcow2::serialize_header(h);  // throws if it would not fit
  // Clear the rest of the old header area so no stale extension survives.
  uint64_t old_end = std::max<uint64_t>(h_.header_length, h_.backing_file_offset + h_.backing_file_size);
  if (raw.size() < old_end) raw.resize(old_end, 0);
  raw.resize(std::max<size_t>(raw.size(), std::min<uint64_t>(cs_, 4096)), 0);
  if (raw.size() > cs_) raw.resize(cs_);
  file_.write(0, raw);
  file_.sync();
  h_ = h;
}

}  // namespace insula::block
