// Refcount table and blocks: reading, updating and cluster allocation.
#include "block/qcow2_refcount.h"

#include <algorithm>

#include "base/error.h"

namespace insula::block::qcow2 {
namespace {
constexpr size_t kMaxCachedBlocks = 64;
}

Refcounts::Refcounts(ImageFile& file, const Header& h)
    : file_(file),
      cluster_bits_(h.cluster_bits),
      cluster_size_(h.cluster_size()),
      order_(h.refcount_order),
      per_block_(h.cluster_size() * 8 >> h.refcount_order),
      max_(h.refcount_order == 6 ? UINT64_MAX : (1ULL << (1U << h.refcount_order)) - 1),
      table_offset_(h.refcount_table_offset),
      table_clusters_(h.refcount_table_clusters) {
  std::vector<uint8_t> raw(table_clusters_ * cluster_size_);
  file_.read(table_offset_, raw);
  uint64_t file_size = file_.size();
  table_.resize(raw.size() / 8);
  for (size_t i = 0; i < table_.size(); ++i) {
    uint64_t e = be64(&raw[i * 8]);
    if (e & kRefTableReserved)
      throw error("'{}' is corrupt: refcount table entry {} ({:#x}) is not cluster aligned", file_.path(), i, e);
    if (e && e >= file_size)
      throw error("'{}' is corrupt: refcount block {} at {:#x} lies beyond the end of the file", file_.path(), i, e);
    table_[i] = e;
  }
}

uint64_t Refcounts::get_entry(const std::vector<uint8_t>& b, uint64_t i) const {
  switch (order_) {
    case 0: return (b[i / 8] >> (i % 8)) & 1;
    case 1: return (b[i / 4] >> (2 * (i % 4))) & 3;
    case 2: return (b[i / 2] >> (4 * (i % 2))) & 15;
    case 3: return b[i];
    case 4: return be16(&b[i * 2]);
    case 5: return be32(&b[i * 4]);
    default: return be64(&b[i * 8]);
  }
}

void Refcounts::put_entry(std::vector<uint8_t>& b, uint64_t i, uint64_t v) const {
  auto sub = [&](uint64_t per_byte, uint64_t bits) {
    uint8_t& byte = b[i / per_byte];
    unsigned shift = static_cast<unsigned>(bits * (i % per_byte));
    uint8_t mask = static_cast<uint8_t>(((1U << bits) - 1) << shift);
    byte = static_cast<uint8_t>((byte & ~mask) | ((v << shift) & mask));
  };
  switch (order_) {
    case 0: sub(8, 1); break;
    case 1: sub(4, 2); break;
    case 2: sub(2, 4); break;
    case 3: b[i] = static_cast<uint8_t>(v); break;
    case 4: put16(&b[i * 2], static_cast<uint16_t>(v)); break;
    case 5: put32(&b[i * 4], static_cast<uint32_t>(v)); break;
    default: put64(&b[i * 8], v); break;
  }
}

std::vector<uint8_t>& Refcounts::block(uint64_t index) {
  auto it = blocks_.find(index);
  if (it != blocks_.end()) return it->second;
  if (blocks_.size() >= kMaxCachedBlocks) blocks_.erase(blocks_.begin());  // write-through: nothing to save
  std::vector<uint8_t> b(cluster_size_);
  file_.read(table_[index], b);
  return blocks_.emplace(index, std::move(b)).first->second;
}

uint64_t Refcounts::get(uint64_t cluster) {
  uint64_t index = cluster / per_block_;
  if (!has_block(index)) return 0;
  return get_entry(block(index), cluster % per_block_);
}

void Refcounts::write_entries(uint64_t index, const std::vector<uint8_t>& b, uint64_t first, uint64_t last) {
  // Byte range holding entries first..last (inclusive).
  uint64_t bits = 1ULL << order_;
  uint64_t from = first * bits / 8, to = (last * bits + bits - 1) / 8 + 1;
  file_.write(table_[index] + from, std::span(b.data() + from, to - from));
}

void Refcounts::set(uint64_t cluster, uint64_t value) {
  if (value > max_) throw error("refcount overflow in '{}': cluster {} would reach {}", file_.path(), cluster, value);
  uint64_t index = cluster / per_block_;
  if (!has_block(index)) {
    if (value == 0) return;
    create_block(index);
  }
  auto& b = block(index);
  if (value && !get_entry(b, cluster % per_block_)) hand_out(cluster, 1);
  put_entry(b, cluster % per_block_, value);
  write_entries(index, b, cluster % per_block_, cluster % per_block_);
  if (value == 0) {
    free_cursor_ = std::min(free_cursor_, cluster);
    forget_zeroed();
  }
}

void Refcounts::update(uint64_t first, uint64_t n, int64_t delta) {
  uint64_t c = first;
  while (c < first + n) {
    uint64_t index = c / per_block_;
    if (!has_block(index)) {
      if (delta < 0) throw error("'{}' is corrupt: freeing cluster {} which has no refcount", file_.path(), c);
      create_block(index);
    }
    auto& b = block(index);
    uint64_t lo = c % per_block_;
    uint64_t hi = std::min(per_block_, lo + (first + n - c));
    for (uint64_t i = lo; i < hi; ++i) {
      uint64_t v = get_entry(b, i);
      if (delta < 0 && v < static_cast<uint64_t>(-delta))
        throw error("'{}' is corrupt: refcount of cluster {} would drop below zero", file_.path(), index * per_block_ + i);
      if (delta > 0 && max_ - v < static_cast<uint64_t>(delta))
        throw error("refcount overflow in '{}': cluster {} already has refcount {}", file_.path(), index * per_block_ + i, v);
      uint64_t nv = v + static_cast<uint64_t>(delta);
      if (!v && nv) hand_out(index * per_block_ + i, 1);
      put_entry(b, i, nv);
      if (nv == 0) {
        free_cursor_ = std::min(free_cursor_, index * per_block_ + i);
        forget_zeroed();
      }
    }
    write_entries(index, b, lo, hi - 1);
    c = index * per_block_ + hi;
  }
}

void Refcounts::release_bytes(uint64_t offset, uint64_t length) {
  if (length == 0) return;
  uint64_t first = offset >> cluster_bits_;
  uint64_t last = (offset + length - 1) >> cluster_bits_;
  update(first, last - first + 1, -1);
}

uint64_t Refcounts::allocate(uint64_t n, uint64_t* got) {
  for (;;) {
    // The first free cluster at or after the cursor.
    uint64_t c = std::max<uint64_t>(free_cursor_, 1);  // cluster 0 is the header
    while (has_block(c / per_block_) && get(c) != 0) ++c;
    if (!has_block(c / per_block_)) {
      create_block(c / per_block_);  // lands at the block's first cluster
      continue;
    }
    // Extend the run up to n, stopping where a refcount block is missing
    // (it will be created at exactly that spot).
    uint64_t len = 1;
    while (len < n && has_block((c + len) / per_block_) && get(c + len) == 0) ++len;
    if (len < n && !got) return allocate_at_end(n);  // caller needs n contiguous clusters
    if (((c + len) << cluster_bits_) > kOffsetMask || ((c + len) << cluster_bits_) >> cluster_bits_ != c + len)
      throw error("'{}' is full: host offsets would exceed the qcow2 limit", file_.path());
    update(c, len, +1);
    free_cursor_ = c + len;
    if (got) *got = len;
    return c << cluster_bits_;
  }
}

uint64_t Refcounts::allocate_at_end(uint64_t n) {
  // Past the end of the file everything is free; the refcount blocks this
  // range lacks go right after it and count themselves and the range.
  for (;;) {
    uint64_t first = (file_.size() + cluster_size_ - 1) >> cluster_bits_;
    uint64_t nblocks = 0;
    for (;;) {
      uint64_t need = 0;
      for (uint64_t b = first / per_block_; b <= (first + n + nblocks - 1) / per_block_; ++b)
        if (!has_block(b)) ++need;
      if (need <= nblocks) break;
      nblocks = need;
    }
    uint64_t last_index = (first + n + nblocks - 1) / per_block_;
    if (last_index >= table_.size()) {
      grow_table(last_index);  // moves the end of the file: plan again
      continue;
    }
    if (((first + n + nblocks) << cluster_bits_) > kOffsetMask)
      throw error("'{}' is full: host offsets would exceed the qcow2 limit", file_.path());
    uint64_t end = first + n + nblocks;
    std::vector<uint64_t> missing;
    for (uint64_t b = first / per_block_; b <= (end - 1) / per_block_; ++b)
      if (!has_block(b)) missing.push_back(b);
    for (size_t k = 0; k < missing.size(); ++k) {
      uint64_t index = missing[k];
      std::vector<uint8_t> blk(cluster_size_, 0);
      for (uint64_t c = std::max(first, index * per_block_); c < std::min(end, (index + 1) * per_block_); ++c)
        put_entry(blk, c % per_block_, 1);
      uint64_t at = (first + n + k) << cluster_bits_;
      file_.write(at, blk);
      blocks_[index] = std::move(blk);
    }
    // Only now point the table at them (block contents first).
    for (size_t k = 0; k < missing.size(); ++k) {
      uint64_t index = missing[k];
      table_[index] = (first + n + k) << cluster_bits_;
      uint8_t e[8];
      put64(e, table_[index]);
      file_.write(table_offset_ + index * 8, e);
    }
    // Clusters of the range covered by blocks that already existed.
    for (uint64_t c = first; c < end; ++c) {
      uint64_t index = c / per_block_;
      if (std::find(missing.begin(), missing.end(), index) == missing.end()) update(c, 1, +1);
    }
    if (nblocks == 0 && end > first + n) throw error("internal error: refcount block plan of '{}'", file_.path());
    hand_out(first, end - first);
    // Make sure the file covers the whole range even before it is written.
    if (file_.size() < (end << cluster_bits_)) file_.truncate(end << cluster_bits_);
    return first << cluster_bits_;
  }
}

void Refcounts::create_block(uint64_t index) {
  if (index >= table_.size()) {
    grow_table(index);
    if (has_block(index)) return;
  }
  // Every cluster this block covers has refcount 0, so the block can live in
  // the first of them and count itself.
  uint64_t at = index * per_block_;
  if (at == 0) throw error("'{}' is corrupt: refcount block 0 is missing", file_.path());
  std::vector<uint8_t> b(cluster_size_, 0);
  put_entry(b, 0, 1);
  hand_out(at, 1);
  file_.write(at << cluster_bits_, b);
  table_[index] = at << cluster_bits_;
  uint8_t e[8];
  put64(e, table_[index]);
  file_.write(table_offset_ + index * 8, e);
  blocks_[index] = std::move(b);
}

void Refcounts::grow_table(uint64_t needed_index) {
  // Place new refcount blocks and the new table past everything in use: from
  // the end of the file and of the range the old table covers, all is free.
  uint64_t file_clusters = (file_.size() + cluster_size_ - 1) >> cluster_bits_;
  uint64_t first = std::max(file_clusters, table_.size() * per_block_);
  uint64_t entries = std::max<uint64_t>(needed_index + 1, table_.size() * 3 / 2 + 1);
  uint64_t nblocks = 0, tclusters = 0;
  for (;;) {
    tclusters = (entries * 8 + cluster_size_ - 1) / cluster_size_;
    uint64_t last_cluster = first + nblocks + tclusters - 1;
    uint64_t need_blocks = last_cluster / per_block_ - first / per_block_ + 1;
    uint64_t need_entries = std::max(needed_index, last_cluster / per_block_) + 1;
    if (need_blocks <= nblocks && need_entries <= entries) break;
    nblocks = std::max(nblocks, need_blocks);
    entries = std::max(entries, need_entries);
  }
  if (tclusters * cluster_size_ > kMaxRefTableBytes)
    throw error("'{}' is too large: its refcount table would exceed {} bytes", file_.path(), kMaxRefTableBytes);
  uint64_t total = nblocks + tclusters;
  hand_out(first, total);
  std::vector<uint64_t> table = table_;
  table.resize(tclusters * cluster_size_ / 8, 0);
  uint64_t first_block_index = first / per_block_;
  for (uint64_t k = 0; k < nblocks; ++k) {
    uint64_t index = first_block_index + k;
    std::vector<uint8_t> b(cluster_size_, 0);
    for (uint64_t c = std::max(first, index * per_block_); c < std::min(first + total, (index + 1) * per_block_); ++c)
      put_entry(b, c % per_block_, 1);
    file_.write((first + k) << cluster_bits_, b);
    table[index] = (first + k) << cluster_bits_;
  }
  std::vector<uint8_t> raw(tclusters * cluster_size_, 0);
  for (size_t i = 0; i < table.size(); ++i) put64(&raw[i * 8], table[i]);
  uint64_t new_offset = (first + nblocks) << cluster_bits_;
  file_.write(new_offset, raw);
  file_.sync();  // the new table must be on disk before the header points at it
  uint8_t hdr[12];
  put64(hdr, new_offset);
  put32(hdr + 8, static_cast<uint32_t>(tclusters));
  file_.write(48, hdr);
  file_.sync();
  uint64_t old_offset = table_offset_, old_clusters = table_clusters_;
  table_ = std::move(table);
  table_offset_ = new_offset;
  table_clusters_ = tclusters;
  blocks_.clear();
  update(old_offset >> cluster_bits_, old_clusters, -1);
}

void Refcounts::hand_out(uint64_t first, uint64_t n) {
  uint64_t end = first + n;
  auto it = handed_out_.upper_bound(first);
  if (it != handed_out_.begin() && std::prev(it)->second >= first) {
    --it;
    first = it->first;
    end = std::max(end, it->second);
  }
  while (it != handed_out_.end() && it->first <= end) {
    end = std::max(end, it->second);
    it = handed_out_.erase(it);
  }
  handed_out_[first] = end;
}

bool Refcounts::handed_out(uint64_t cluster) const {
  auto it = handed_out_.upper_bound(cluster);
  return it != handed_out_.begin() && std::prev(it)->second > cluster;
}

}  // namespace insula::block::qcow2
