// Internal snapshots: create, apply, delete (QEMU's qcow2-snapshot.c
// semantics, so qemu-img reads what we write and the other way round).
//
// A snapshot is a copy of the active L1 table. Refcounts count references per
// L1 table: a cluster reachable from the active table and from two snapshots
// has refcount 3. COPIED (bit 63) in the active tables says "refcount is
// exactly 1, writable in place"; in snapshot tables it means nothing.
//
// Each operation describes the metadata it wants (snapshot list, L1 tables,
// disk size) and switch_metadata() (qcow2_switch.cc) builds it beside the old
// and switches with one header write: a crash leaves the image as before or
// as after, with no leaks and no COPIED flag out of step.
#include <time.h>

#include <algorithm>

#include "base/error.h"
#include "block/qcow2.h"

namespace insula::block {

using namespace qcow2;

namespace {
constexpr size_t kMaxSnapshotNameLength = 255;  // QEMU keeps names in char[256]

// The snapshot table (empty when there is none).
std::vector<Snapshot> read_list(const ImageFile& file, const Header& h) {
  uint64_t table_bytes = 0;
  return h.nb_snapshots ? read_snapshots(file, h, table_bytes) : std::vector<Snapshot>{};
}

// The snapshot table, and in `index` the entry whose ID or name is key;
// throws when there is none.
std::vector<Snapshot> find_listed(const ImageFile& file, const Header& h, const std::string& key, size_t& index) {
  std::vector<Snapshot> list = read_list(file, h);
  int i = find_snapshot(list, key);
  if (i < 0)
    throw error("'{}' has no snapshot with ID or name '{}' (`insula img snapshot -l` lists them)", file.path(), key);
  index = static_cast<size_t>(i);
  return list;
}
}  // namespace

void Qcow2Image::drop_l2_cache() {
  // Under exclusive(), which wrote every held-back entry before the tables changed.
  if (!l2_dirty_.empty()) throw std::logic_error("qcow2: L2 cache dropped with held-back entries");
  l2_cache_.clear();
}

void Qcow2Image::require_consistent(const std::string& action) {
  CheckResult r = check_locked(RepairMode::kNone);
  // COPIED flags that disagree with the refcounts are no danger here (a crash
  // in QEMU's own snapshot code can leave them): switch_metadata() recomputes
  // every flag of the active tables. Leaked clusters need no repair either:
  // it recounts every refcount.
  const auto copied_flag_errors = static_cast<uint64_t>(std::count_if(
      r.messages.begin(), r.messages.end(), [](const std::string& m) { return m.starts_with("ERROR OFLAG_COPIED"); }));
  const uint64_t errors = r.corruptions - copied_flag_errors + r.check_errors;
  if (errors)
    throw error("cannot {} '{}': its metadata has {} error(s); `insula img check` lists them and `-r all` repairs "
                "what it can",
                action, file_.path(), errors);
}

std::vector<uint64_t> Qcow2Image::read_l1(uint64_t offset, uint32_t entries) {
  std::vector<uint8_t> raw(uint64_t{entries} * 8);
  if (!raw.empty()) file_.read(offset, raw);
  std::vector<uint64_t> l1(entries);
  for (size_t i = 0; i < l1.size(); ++i) l1[i] = be64(&raw[i * 8]);
  return l1;
}

std::vector<Snapshot> Qcow2Image::snapshots() {
  std::shared_lock lk(lock_);
  return read_list(file_, h_);
}

// The snapshot table and every snapshot's L1 entries, as NextMetadata wants.
Qcow2Image::NextMetadata Qcow2Image::current_metadata(std::vector<Snapshot> list) {
  NextMetadata next;
  next.size = h_.size;
  next.active_l1 = l1_;
  for (const Snapshot& s : list) next.snapshot_l1.push_back(read_l1(s.l1_table_offset, s.l1_size));
  next.snapshots = std::move(list);
  return next;
}

std::string Qcow2Image::create_snapshot(const std::string& name) {
  check_writable();
  if (name.empty()) throw error("a snapshot needs a name");
  if (name.size() > kMaxSnapshotNameLength)
    throw error("snapshot name '{}...' is longer than {} bytes", name.substr(0, 32), kMaxSnapshotNameLength);
  auto lk = exclusive();
  require_consistent("create a snapshot in");
  if (h_.nb_snapshots >= kMaxSnapshots)
    throw error("'{}' already has {} snapshots, the most qcow2 allows; delete some first", file_.path(), h_.nb_snapshots);
  NextMetadata next = current_metadata(read_list(file_, h_));

  Snapshot s;
  // A new ID is one more than the largest numeric one (QEMU's rule).
  uint64_t max_id = 0;
  for (const Snapshot& o : next.snapshots) max_id = std::max<uint64_t>(max_id, std::strtoull(o.id.c_str(), nullptr, 10));
  s.id = std::to_string(max_id + 1);
  s.name = name;
  timespec now{};
  clock_gettime(CLOCK_REALTIME, &now);
  s.date_sec = static_cast<uint32_t>(now.tv_sec);
  s.date_nsec = static_cast<uint32_t>(now.tv_nsec / 1000 * 1000);  // qemu-img records microseconds
  s.disk_size = h_.size;
  s.icount = 0;  // what qemu-img records for a disk-only snapshot
  s.l1_size = static_cast<uint32_t>(l1_.size());
  s.l1_table_offset = 0;  // a new table: switch_metadata places it
  next.snapshots.push_back(s);
  next.snapshot_l1.push_back(l1_);
  switch_metadata(std::move(next), "create a snapshot in");
  return s.id;
}

void Qcow2Image::apply_snapshot(const std::string& key) {
  check_writable();
  auto lk = exclusive();
  require_consistent("apply a snapshot of");
  size_t index = 0;
  NextMetadata next = current_metadata(find_listed(file_, h_, key, index));
  const Snapshot& s = next.snapshots[index];
  // The active table keeps at least its size (as QEMU): what lies past the
  // snapshot's entries reads as unallocated.
  uint64_t need = std::max<uint64_t>({l1_.size(), s.l1_size, l1_entries_for(s.disk_size, h_.cluster_bits)});
  if (need * 8 > kMaxL1Bytes)
    throw error("snapshot '{}' of '{}' needs an L1 table of {} entries, more than qcow2 allows", s.id, file_.path(), need);
  next.size = s.disk_size;
  next.active_l1 = next.snapshot_l1[index];
  next.active_l1.resize(need, 0);
  switch_metadata(std::move(next), "apply a snapshot of");
}

void Qcow2Image::delete_snapshot(const std::string& key) {
  check_writable();
  auto lk = exclusive();
  require_consistent("delete a snapshot of");
  size_t index = 0;
  NextMetadata next = current_metadata(find_listed(file_, h_, key, index));
  next.snapshots.erase(next.snapshots.begin() + static_cast<ptrdiff_t>(index));
  next.snapshot_l1.erase(next.snapshot_l1.begin() + static_cast<ptrdiff_t>(index));
  switch_metadata(std::move(next), "delete a snapshot of");
}

void Qcow2Image::load_snapshot(const std::string& key) {
  if (!read_only_) throw error("internal error: a snapshot of '{}' can only be loaded read-only", file_.path());
  auto lk = exclusive();
  size_t index = 0;
  // read_snapshots() has checked the table, each L1 table's bounds and size,
  // and the disk sizes.
  std::vector<Snapshot> list = find_listed(file_, h_, key, index);
  const Snapshot& s = list[index];
  // The disk size stays the current one, as in QEMU's load_tmp (qemu-img
  // convert -l): past the snapshot's L1 entries everything reads as zeros.
  l1_ = read_l1(s.l1_table_offset, s.l1_size);
  drop_l2_cache();
}

}  // namespace insula::block
