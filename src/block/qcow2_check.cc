// qcow2 consistency check (qemu-img check): recount every reference from the
// header, tables and snapshots, compare with the stored refcounts, verify the
// COPIED flags, and optionally repair leaks (-r leaks) or everything we can
// (-r all).
#include <algorithm>

#include "base/error.h"
#include "block/qcow2.h"
#include "block/qcow2_snapshot.h"

namespace insula::block {

using namespace qcow2;

CheckResult Qcow2Image::check(RepairMode repair) {
  auto lk = exclusive();
  return check_locked(repair);
}

CheckResult Qcow2Image::check_locked(RepairMode repair) {
  CheckResult r;
  const uint64_t fsize = file_.size();
  const uint64_t ncl = (fsize + cs_ - 1) / cs_;
  if (ncl > (1ULL << 31)) throw error("'{}' has too many clusters ({}) to check", file_.path(), ncl);
  std::vector<uint32_t> ref(ncl, 0);
  auto add = [&](uint64_t off, uint64_t len, const char* what) {
    if (len == 0) return true;
    uint64_t first = off / cs_, last = (off + len - 1) / cs_;
    if (last >= ncl || off + len < off) {
      ++r.corruptions;
      r.messages.push_back(fmt::format("ERROR {} at offset {:#x} is beyond the end of the file", what, off));
      return false;
    }
    for (uint64_t c = first; c <= last; ++c)
      if (ref[c] != UINT32_MAX) ++ref[c];
    return true;
  };
  add(0, cs_, "header");
  if (h_.l1_size) add(h_.l1_table_offset, uint64_t{h_.l1_size} * 8, "L1 table");
  Refcounts& rc = refcounts();
  rc.drop_cache();
  add(rc.table_offset(), rc.table_clusters() * cs_, "refcount table");
  for (uint64_t e : rc.table())
    if (e) add(e, cs_, "refcount block");

  auto walk = [&](const std::vector<uint64_t>& l1, bool active) {
    for (size_t i = 0; i < l1.size(); ++i) {
      uint64_t next_contiguous = 0;  // per L2 table, as qemu-img counts fragmentation
      uint64_t l2 = l1[i] & kOffsetMask;
      if (!l2) continue;
      if ((l1[i] & kL1Reserved) || (l2 & (cs_ - 1))) {
        ++r.corruptions;
        r.messages.push_back(fmt::format("ERROR invalid L1 entry {} ({:#x})", i, l1[i]));
        continue;
      }
      if (!add(l2, cs_, "L2 table")) continue;
      std::vector<uint8_t> raw(cs_);
      file_.read(l2, raw);
      for (uint64_t j = 0; j < l2_entries_; ++j) {
        uint64_t e = be64(&raw[j * 8]);
        if (e & kCompressed) {
          uint64_t host, length;
          compressed_range(e, host, length);
          if (add(host, length, "compressed cluster") && active) {
            // Compressed clusters count as fragmented by nature (qemu-img).
            ++r.compressed_clusters;
            ++r.allocated_clusters;
            ++r.fragmented_clusters;
          }
          continue;
        }
        uint64_t host = e & kOffsetMask;
        if (!host) continue;  // unallocated or a plain zero cluster
        if ((e & kL2Reserved) || (host & (cs_ - 1))) {
          ++r.corruptions;
          r.messages.push_back(fmt::format("ERROR invalid L2 entry {:#x}", e));
          continue;
        }
        if (add(host, cs_, "data cluster") && active) {
          ++r.allocated_clusters;
          if (next_contiguous && host != next_contiguous) ++r.fragmented_clusters;
          next_contiguous = host + cs_;
        }
      }
    }
  };
  if (h_.nb_snapshots) {
    uint64_t bytes = 0;
    auto snaps = read_snapshots(file_, h_, bytes);
    add(h_.snapshots_offset, bytes, "snapshot table");
    for (const auto& s : snaps) {
      if (!s.l1_size) continue;
      if (!add(s.l1_table_offset, uint64_t{s.l1_size} * 8, "snapshot L1 table")) continue;
      std::vector<uint8_t> raw(uint64_t{s.l1_size} * 8);
      file_.read(s.l1_table_offset, raw);
      std::vector<uint64_t> l1(s.l1_size);
      for (size_t i = 0; i < l1.size(); ++i) l1[i] = be64(&raw[i * 8]);
      walk(l1, false);
    }
  }
  walk(l1_, true);

  // Compare with the stored refcounts of the clusters in the file (as
  // qemu-img: refcounts past its end count for nothing).
  uint64_t per_block = rc.entries_per_block();
  bool writable = !read_only_;
  uint64_t highest = 0;  // one past the last cluster in use or counted
  for (uint64_t c = 0; c < ncl; ++c) {
    uint64_t stored = rc.get(c);
    uint64_t want = ref[c];
    if (stored || want) highest = c + 1;
    if (stored == want) continue;
    if (stored > want) {
      ++r.leaks;
      r.messages.push_back(fmt::format("Leaked cluster {} refcount={} reference={}", c, stored, want));
      if (writable && repair != RepairMode::kNone) {
        rc.set(c, want);
        ++r.leaks_fixed;
      }
    } else {
      ++r.corruptions;
      r.messages.push_back(fmt::format("ERROR cluster {} refcount={} reference={}", c, stored, want));
      bool block_exists = c / per_block < rc.table().size() && rc.table()[c / per_block];
      if (writable && repair == RepairMode::kAll && block_exists && want <= rc.max_refcount()) {
        rc.set(c, want);
        ++r.corruptions_fixed;
      }
    }
  }

  // COPIED flags of the active tables must say "refcount is exactly 1".
  for (size_t i = 0; i < l1_.size(); ++i) {
    uint64_t l2 = l1_[i] & kOffsetMask;
    if (!l2 || (l2 & (cs_ - 1)) || l2 / cs_ >= ncl) continue;
    bool copied = rc.get(l2 / cs_) == 1;
    if (copied != ((l1_[i] & kCopied) != 0)) {
      ++r.corruptions;
      r.messages.push_back(fmt::format("ERROR OFLAG_COPIED L2 cluster: l1_index={} l1_entry={:x} refcount={}", i, l1_[i],
                                       rc.get(l2 / cs_)));
      if (writable && repair == RepairMode::kAll) {
        l1_[i] = copied ? (l1_[i] | kCopied) : (l1_[i] & ~kCopied);
        uint8_t v[8];
        put64(v, l1_[i]);
        file_.write(h_.l1_table_offset + i * 8, v);
        ++r.corruptions_fixed;
      }
    }
    std::vector<uint8_t> raw(cs_);
    file_.read(l2, raw);
    bool changed = false;
    for (uint64_t j = 0; j < l2_entries_; ++j) {
      uint64_t e = be64(&raw[j * 8]);
      uint64_t host = e & kOffsetMask;
      if ((e & kCompressed) || !host || (host & (cs_ - 1)) || host / cs_ >= ncl) continue;
      bool want_copied = rc.get(host / cs_) == 1;
      if (want_copied == ((e & kCopied) != 0)) continue;
      ++r.corruptions;
      r.messages.push_back(
          fmt::format("ERROR OFLAG_COPIED data cluster: l2_entry={:x} refcount={}", e, rc.get(host / cs_)));
      if (writable && repair == RepairMode::kAll) {
        put64(&raw[j * 8], want_copied ? (e | kCopied) : (e & ~kCopied));
        changed = true;
        ++r.corruptions_fixed;
      }
    }
    if (changed) {
      file_.write(l2, raw);
      l2_cache_.erase(l2);
    }
  }

  r.image_end_offset = highest * cs_;
  r.total_clusters = (h_.size + cs_ - 1) / cs_;
  if (writable && (r.leaks_fixed || r.corruptions_fixed)) {
    file_.sync();
    // Refcounts now count the references of every table: what they point
    // at is in use, whatever was allocated or free before.
    trusted_end_ = std::max<uint64_t>(file_end_, file_.size());
    written_l2_.clear();
    rc.forget_handed_out();
  }
  return r;
}

}  // namespace insula::block
