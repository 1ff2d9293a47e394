// Internal snapshots: create, apply, delete (QEMU's qcow2-snapshot.c
// semantics, so qemu-img reads what we write and the other way round).
//
// A snapshot is a copy of the active L1 table. Refcounts count references per
// L1 table: a cluster reachable from the active table and from two snapshots
// has refcount 3. COPIED (bit 63) in the active tables says "refcount is
// exactly 1, writable in place"; in snapshot tables it means nothing.
//
// Crash safety: refcounts are raised before anything points at the clusters
// and lowered only after nothing does (snapshot table first on delete, the new
// active L1 first on apply); the header is switched to a new snapshot table
// only after the table is on disk. A crash therefore leaves leaked clusters,
// or a COPIED flag missing (an extra copy on the next write), never a COPIED
// flag on a shared cluster.
#include <time.h>

#include <algorithm>
#include <map>

#include "base/error.h"
#include "block/qcow2.h"

namespace insula::block {

using namespace qcow2;

namespace {
constexpr size_t kMaxSnapshotNameLength = 255;  // QEMU keeps names in char[256]

// The snapshot table (its size on disk in table_bytes), and in `index` the
// entry whose ID or name is key; throws when there is none.
std::vector<Snapshot> find_listed(const ImageFile& file, const Header& h, const std::string& key,
                                  uint64_t& table_bytes, size_t& index) {
  std::vector<Snapshot> list = h.nb_snapshots ? read_snapshots(file, h, table_bytes) : std::vector<Snapshot>{};
  int i = find_snapshot(list, key);
  if (i < 0)
    throw error("'{}' has no snapshot with ID or name '{}' (`insula img snapshot -l` lists them)", file.path(), key);
  index = static_cast<size_t>(i);
  return list;
}
}  // namespace

void Qcow2Image::drop_l2_cache() {
  std::lock_guard g(l2_cache_lock_);
  l2_cache_.clear();
}

void Qcow2Image::require_consistent(const std::string& action) {
  CheckResult r = check_locked(RepairMode::kNone);
  // COPIED flags that disagree with the refcounts are no danger here: every
  // operation recomputes the active table's flags from the refcounts at its
  // end, and a crash between a refcount write and the flag update leaves
  // exactly that (QEMU has the same window).
  const auto copied_flag_errors = static_cast<uint64_t>(std::count_if(
      r.messages.begin(), r.messages.end(), [](const std::string& m) { return m.starts_with("ERROR OFLAG_COPIED"); }));
  const uint64_t errors = r.corruptions - copied_flag_errors + r.check_errors;
  if (errors)
    throw error("cannot {} '{}': its metadata has {} error(s); `insula img check` lists them and `-r all` repairs "
                "what it can",
                action, file_.path(), errors);
  // Leaked clusters (what a crash in the middle of an operation leaves) are
  // freed first: with narrow refcounts (refcount_bits < 16) repeated crashes
  // would otherwise pile leaked references up until the next one overflows.
  if (r.leaks) check_locked(RepairMode::kLeaks);
}

std::vector<uint64_t> Qcow2Image::read_l1(uint64_t offset, uint32_t entries) {
  std::vector<uint8_t> raw(uint64_t{entries} * 8);
  if (!raw.empty()) file_.read(offset, raw);
  std::vector<uint64_t> l1(entries);
  for (size_t i = 0; i < l1.size(); ++i) l1[i] = be64(&raw[i * 8]);
  return l1;
}

void Qcow2Image::write_l1(uint64_t offset, const std::vector<uint64_t>& l1, uint64_t clusters) {
  // Whole clusters: the tail past the last entry must read as zeros, so the
  // table can later grow in place (resize relies on it).
  std::vector<uint8_t> raw(clusters * cs_, 0);
  if (raw.size() < l1.size() * 8) throw error("internal error: L1 table of '{}' does not fit", file_.path());
  for (size_t i = 0; i < l1.size(); ++i) put64(&raw[i * 8], l1[i]);
  if (!raw.empty()) file_.write(offset, raw);
}

// Adds delta (+1, -1 or 0) to the refcount of every L2 table and cluster
// reachable through l1, then makes the COPIED flags of those L2 entries and of
// l1's own entries say whether the refcount is now exactly 1 (as QEMU's
// qcow2_update_snapshot_refcount). Refcounts change before flags. Returns
// whether l1 changed (the caller writes it where it lives).
bool Qcow2Image::update_refcounts_via(std::vector<uint64_t>& l1, int delta) {
  Refcounts& rc = refcounts();
  bool l1_changed = false;
  std::vector<uint8_t> raw(cs_);
  for (uint64_t& l1e : l1) {
    const uint64_t l2 = l1e & kOffsetMask;
    if (!l2) continue;
    // An L2 table that loses its last reference here needs no flag updates.
    const bool table_dies = delta < 0 && rc.get(l2 / cs_) == 1;
    file_.read(l2, raw);
    // Consecutive host clusters change together: one refcount write per run.
    uint64_t run_start = 0, run_len = 0;
    auto flush_run = [&] {
      if (run_len && delta) rc.update(run_start, run_len, delta);
      run_len = 0;
    };
    for (uint64_t j = 0; j < l2_entries_; ++j) {
      const uint64_t e = be64(&raw[j * 8]);
      if (e & kCompressed) {
        flush_run();
        uint64_t host, length;
        compressed_range(e, host, length);
        if (delta) rc.update(host / cs_, (host + length - 1) / cs_ - host / cs_ + 1, delta);
        continue;
      }
      const uint64_t c = (e & kOffsetMask) / cs_;
      if (!c) continue;
      if (run_len && c == run_start + run_len) {
        ++run_len;
      } else {
        flush_run();
        run_start = c;
        run_len = 1;
      }
    }
    flush_run();
    if (!table_dies) {
      bool changed = false;
      for (uint64_t j = 0; j < l2_entries_; ++j) {
        const uint64_t e = be64(&raw[j * 8]);
        const uint64_t host = e & kOffsetMask;
        // Compressed, zero and unallocated entries never carry COPIED.
        bool copied = !(e & kCompressed) && host && rc.get(host / cs_) == 1;
        const uint64_t want = copied ? (e | kCopied) : (e & ~kCopied);
        if (want == e) continue;
        put64(&raw[j * 8], want);
        changed = true;
      }
      if (changed) file_.write(l2, raw);
    }
    if (delta) rc.update(l2 / cs_, 1, delta);
    const uint64_t want = rc.get(l2 / cs_) == 1 ? (l2 | kCopied) : l2;
    if (want != l1e) {
      l1e = want;
      l1_changed = true;
    }
  }
  return l1_changed;
}

void Qcow2Image::check_room_for_reference(const std::vector<uint64_t>& l1, const std::string& action) {
  // In a consistent image a cluster has at most one reference per L1 table,
  // times the compressed clusters sharing one host cluster. Only when that
  // bound exceeds the refcount width can one more reference overflow: count
  // exactly then, before anything changes (narrow refcount_bits).
  Refcounts& rc = refcounts();
  const uint64_t bound = (uint64_t{h_.nb_snapshots} + 2) * std::max<uint64_t>(1, cs_ / 512);
  if (bound <= rc.max_refcount()) return;
  std::map<uint64_t, uint64_t> adds;
  std::vector<uint8_t> raw(cs_);
  for (uint64_t l1e : l1) {
    const uint64_t l2 = l1e & kOffsetMask;
    if (!l2) continue;
    ++adds[l2 / cs_];
    file_.read(l2, raw);
    for (uint64_t j = 0; j < l2_entries_; ++j) {
      const uint64_t e = be64(&raw[j * 8]);
      if (e & kCompressed) {
        uint64_t host, length;
        compressed_range(e, host, length);
        for (uint64_t c = host / cs_; c <= (host + length - 1) / cs_; ++c) ++adds[c];
      } else if (e & kOffsetMask) {
        ++adds[(e & kOffsetMask) / cs_];
      }
    }
  }
  for (const auto& [c, n] : adds)
    if (rc.get(c) + n > rc.max_refcount())
      throw error("cannot {} '{}': cluster {} would need refcount {}, more than refcount_bits={} holds; convert the "
                  "image with -o refcount_bits=16",
                  action, file_.path(), c, rc.get(c) + n, 1U << h_.refcount_order);
}

void Qcow2Image::write_snapshot_table(const std::vector<Snapshot>& list, uint64_t old_bytes) {
  std::vector<uint8_t> raw = serialize_snapshots(list);
  uint64_t offset = 0;
  if (!list.empty()) {
    uint64_t n = (raw.size() + cs_ - 1) / cs_;
    offset = refcounts().allocate(n);
    file_end_ = std::max<uint64_t>(file_end_, offset + n * cs_);
    file_.write(offset, raw);
    file_.sync();  // the table must be on disk before the header points at it
  }
  uint8_t hdr[12];
  put32(hdr, static_cast<uint32_t>(list.size()));
  put64(hdr + 4, offset);
  file_.write(60, hdr);
  file_.sync();
  if (h_.nb_snapshots && old_bytes) refcounts().release_bytes(h_.snapshots_offset, old_bytes);
  h_.nb_snapshots = static_cast<uint32_t>(list.size());
  h_.snapshots_offset = offset;
}

std::vector<Snapshot> Qcow2Image::snapshots() {
  std::shared_lock lk(lock_);
  uint64_t bytes = 0;
  return h_.nb_snapshots ? read_snapshots(file_, h_, bytes) : std::vector<Snapshot>{};
}

std::string Qcow2Image::create_snapshot(const std::string& name) {
  check_writable();
  if (name.empty()) throw error("a snapshot needs a name");
  if (name.size() > kMaxSnapshotNameLength)
    throw error("snapshot name '{}...' is longer than {} bytes", name.substr(0, 32), kMaxSnapshotNameLength);
  std::unique_lock lk(lock_);
  require_consistent("create a snapshot in");
  if (h_.nb_snapshots >= kMaxSnapshots)
    throw error("'{}' already has {} snapshots, the most qcow2 allows; delete some first", file_.path(), h_.nb_snapshots);
  uint64_t table_bytes = 0;
  std::vector<Snapshot> list = h_.nb_snapshots ? read_snapshots(file_, h_, table_bytes) : std::vector<Snapshot>{};
  check_room_for_reference(l1_, "create a snapshot in");

  Snapshot s;
  // A new ID is one more than the largest numeric one (QEMU's rule).
  uint64_t max_id = 0;
  for (const Snapshot& o : list) max_id = std::max<uint64_t>(max_id, std::strtoull(o.id.c_str(), nullptr, 10));
  s.id = std::to_string(max_id + 1);
  s.name = name;
  timespec now{};
  clock_gettime(CLOCK_REALTIME, &now);
  s.date_sec = static_cast<uint32_t>(now.tv_sec);
  s.date_nsec = static_cast<uint32_t>(now.tv_nsec / 1000 * 1000);  // qemu-img records microseconds
  s.disk_size = h_.size;
  s.icount = 0;  // what qemu-img records for a disk-only snapshot
  s.l1_size = static_cast<uint32_t>(l1_.size());
  const uint64_t l1_clusters = (l1_.size() * 8 + cs_ - 1) / cs_;
  if (l1_clusters) {
    s.l1_table_offset = refcounts().allocate(l1_clusters);
    file_end_ = std::max<uint64_t>(file_end_, s.l1_table_offset + l1_clusters * cs_);
    std::vector<uint64_t> copy = l1_;
    for (uint64_t& e : copy) e &= ~kCopied;  // flags mean nothing in a snapshot's table
    write_l1(s.l1_table_offset, copy, l1_clusters);
  }
  drop_l2_cache();
  if (update_refcounts_via(l1_, +1)) write_l1(h_.l1_table_offset, l1_, l1_clusters);
  list.push_back(s);
  write_snapshot_table(list, table_bytes);
  drop_l2_cache();
  return s.id;
}

void Qcow2Image::apply_snapshot(const std::string& key) {
  check_writable();
  std::unique_lock lk(lock_);
  require_consistent("apply a snapshot of");
  uint64_t table_bytes = 0;
  size_t index = 0;
  std::vector<Snapshot> list = find_listed(file_, h_, key, table_bytes, index);
  const Snapshot& s = list[index];
  // The active table keeps at least its size (as QEMU): what lies past the
  // snapshot's entries reads as unallocated.
  uint64_t need = std::max<uint64_t>({l1_.size(), s.l1_size, l1_entries_for(s.disk_size, h_.cluster_bits)});
  if (need * 8 > kMaxL1Bytes)
    throw error("snapshot '{}' of '{}' needs an L1 table of {} entries, more than qcow2 allows", s.id, file_.path(), need);
  std::vector<uint64_t> next = read_l1(s.l1_table_offset, s.l1_size);
  check_room_for_reference(next, "apply a snapshot of");
  drop_l2_cache();
  // 1. The snapshot's clusters gain the reference the active table will hold.
  update_refcounts_via(next, +1);
  next.resize(need, 0);
  // 2. The active L1 becomes the snapshot's, in place when it fits.
  const uint64_t old_clusters = (l1_.size() * 8 + cs_ - 1) / cs_;
  const uint64_t new_clusters = (need * 8 + cs_ - 1) / cs_;
  const uint64_t old_offset = h_.l1_table_offset;
  uint64_t offset = old_offset;
  const bool moved = new_clusters > old_clusters;
  if (moved) {
    offset = refcounts().allocate(new_clusters);
    file_end_ = std::max<uint64_t>(file_end_, offset + new_clusters * cs_);
  }
  write_l1(offset, next, moved ? new_clusters : old_clusters);
  file_.sync();
  uint8_t hdr[24] = {};  // size, crypt_method (0), l1_size, l1_table_offset
  put64(hdr, s.disk_size);
  put32(hdr + 12, static_cast<uint32_t>(need));
  put64(hdr + 16, offset);
  file_.write(24, hdr);
  file_.sync();
  std::vector<uint64_t> old = std::move(l1_);
  l1_ = std::move(next);
  h_.size = s.disk_size;
  h_.l1_size = static_cast<uint32_t>(need);
  h_.l1_table_offset = offset;
  // 3. The old active tables lose their reference; 4. flags of the new ones.
  update_refcounts_via(old, -1);
  if (moved && old_clusters) refcounts().release_bytes(old_offset, old_clusters * cs_);
  if (update_refcounts_via(l1_, 0)) write_l1(h_.l1_table_offset, l1_, moved ? new_clusters : old_clusters);
  drop_l2_cache();
  file_.sync();
}

void Qcow2Image::delete_snapshot(const std::string& key) {
  check_writable();
  std::unique_lock lk(lock_);
  require_consistent("delete a snapshot of");
  uint64_t table_bytes = 0;
  size_t index = 0;
  std::vector<Snapshot> list = find_listed(file_, h_, key, table_bytes, index);
  Snapshot s = list[index];
  list.erase(list.begin() + static_cast<ptrdiff_t>(index));
  // 1. Unlist it; from here on a crash only leaks its clusters.
  write_snapshot_table(list, table_bytes);
  drop_l2_cache();
  // 2. Its clusters lose its reference, its L1 table goes; 3. active flags.
  std::vector<uint64_t> l1 = read_l1(s.l1_table_offset, s.l1_size);
  update_refcounts_via(l1, -1);
  if (s.l1_size) refcounts().release_bytes(s.l1_table_offset, uint64_t{s.l1_size} * 8);
  if (update_refcounts_via(l1_, 0)) write_l1(h_.l1_table_offset, l1_, (l1_.size() * 8 + cs_ - 1) / cs_);
  drop_l2_cache();
  file_.sync();
}

void Qcow2Image::load_snapshot(const std::string& key) {
  if (!read_only_) throw error("internal error: a snapshot of '{}' can only be loaded read-only", file_.path());
  std::unique_lock lk(lock_);
  uint64_t table_bytes = 0;
  size_t index = 0;
  // read_snapshots() has checked the table, each L1 table's bounds and size,
  // and the disk sizes.
  std::vector<Snapshot> list = find_listed(file_, h_, key, table_bytes, index);
  const Snapshot& s = list[index];
  // The disk size stays the current one, as in QEMU's load_tmp (qemu-img
  // convert -l): past the snapshot's L1 entries everything reads as zeros.
  l1_ = read_l1(s.l1_table_offset, s.l1_size);
  drop_l2_cache();
}

}  // namespace insula::block
