// Qcow2Refcounts: the refcount table and a cache of refcount blocks of any
// refcount order; allocates clusters, growing blocks and the table as needed.
// Not thread-safe: the qcow2 driver calls it under its exclusive lock.
//
// Crash safety: every change is written through to the file at once, and a
// new refcount block is written before the table entry that points at it, so
// a crash leaves at worst clusters whose refcount is too high (leaks).
#pragma once

#include <cstdint>
#include <map>
#include <vector>

#include "block/file.h"
#include "block/qcow2_format.h"

namespace insula::block::qcow2 {

class Refcounts {
 public:
  Refcounts(ImageFile& file, const Header& h);

  uint64_t max_refcount() const { return max_; }
  uint64_t entries_per_block() const { return per_block_; }
  const std::vector<uint64_t>& table() const { return table_; }
  uint64_t table_offset() const { return table_offset_; }
  uint64_t table_clusters() const { return table_clusters_; }

  // Refcount of one cluster (by cluster index); 0 where no block exists.
  uint64_t get(uint64_t cluster);
  // Sets a refcount; allocates the refcount block if missing and value > 0.
  void set(uint64_t cluster, uint64_t value);
  // Adds delta to n consecutive clusters; throws on overflow or underflow.
  void update(uint64_t first, uint64_t n, int64_t delta);
  // Finds n consecutive free clusters, gives them refcount 1, returns the
  // host offset of the first. With got, takes fewer (at least one) when the
  // first free run is shorter and stores how many.
  uint64_t allocate(uint64_t n, uint64_t* got = nullptr);
  // Frees the clusters covering [offset, offset+length) by one reference.
  void release_bytes(uint64_t offset, uint64_t length);
  void drop_cache() {
    blocks_.clear();
    forget_zeroed();
  }
  // Every cluster in [first, end) that has refcount 0 reads as zeros in the
  // file (zeroed ahead of use by the qcow2 write path, which then skips
  // zeroing a new run inside it). Forgotten as soon as any cluster's refcount
  // drops to 0: a freed cluster may hold data and be handed out again.
  void set_zeroed(uint64_t first, uint64_t end) { zeroed_first_ = first, zeroed_end_ = end; }
  bool zeroed(uint64_t first, uint64_t n) const { return first >= zeroed_first_ && first + n <= zeroed_end_; }
  void forget_zeroed() { zeroed_first_ = zeroed_end_ = 0; }
  // Stores refcount v of entry i in a refcount block's bytes (this order).
  void put_entry(std::vector<uint8_t>& b, uint64_t i, uint64_t v) const;
  // Whether this object gave the cluster a refcount where it had none (it
  // was free when the image was opened, or freed since): no table read from
  // the file that this process did not write may point there.
  bool handed_out(uint64_t cluster) const;
  void forget_handed_out() { handed_out_.clear(); }

 private:
  std::vector<uint8_t>& block(uint64_t index);  // loads into the cache
  bool has_block(uint64_t index) const { return index < table_.size() && table_[index] != 0; }
  void create_block(uint64_t index);
  uint64_t allocate_at_end(uint64_t n);
  void grow_table(uint64_t needed_index);
  uint64_t get_entry(const std::vector<uint8_t>& b, uint64_t i) const;
  void write_entries(uint64_t index, const std::vector<uint8_t>& b, uint64_t first, uint64_t last);
  void hand_out(uint64_t first, uint64_t n);  // records [first, first + n) in handed_out_

  ImageFile& file_;
  uint32_t cluster_bits_;
  uint64_t cluster_size_;
  uint32_t order_;
  uint64_t per_block_;
  uint64_t max_;
  uint64_t table_offset_;
  uint64_t table_clusters_;
  std::vector<uint64_t> table_;  // host offsets of refcount blocks (0 = none)
  std::map<uint64_t, std::vector<uint8_t>> blocks_;
  uint64_t free_cursor_ = 0;
  uint64_t zeroed_first_ = 0, zeroed_end_ = 0;
  std::map<uint64_t, uint64_t> handed_out_;  // first cluster -> end, disjoint, merged
};

}  // namespace insula::block::qcow2
