// Qcow2Image: the qcow2 driver (QEMU's format, v2 and v3) as a BlockDevice,
// plus what `insula img` needs beyond it: create, check/repair, compressed
// writes, header access.
//
// Locking: a shared_mutex, lock_, taken shared by reads and writes and
// exclusively by everything else that changes metadata (zeroing, discard,
// snapshots, resize, check). Under the shared lock, meta_lock_ guards the
// tables (L1, L2 cache, refcounts) for the moment a request maps or changes
// them; data I/O runs with only the shared lock held, so reads, in-place
// overwrites of clusters this image owns alone (COPIED) and the data of
// allocating writes all overlap. An allocating write plans its new space
// (refcounts raised) under meta_lock_, writes its data, then commits the L2
// entries under meta_lock_ again, as QEMU does; other writes to those
// clusters wait for it (pending_). Copy-on-write from clusters that have
// space of their own (compressed, shared with a snapshot, zero with space)
// frees or shares clusters a concurrent read may be using, so it takes lock_
// exclusively instead.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <unordered_set>
#include <vector>

#include "block/block_device.h"
#include "block/file.h"
#include "block/qcow2_format.h"
#include "block/qcow2_refcount.h"
#include "block/qcow2_snapshot.h"

namespace insula::block {

struct Qcow2CreateOptions {
  uint64_t size = 0;
  uint64_t cluster_size = 65536;
  uint32_t version = 3;  // 2 = compat 0.10, 3 = compat 1.1
  uint32_t refcount_bits = 16;
  std::string backing_file;    // as stored in the header (may be relative)
  std::string backing_format;  // written as the backing format extension
  bool lazy_refcounts = false;
  uint8_t compression_type = qcow2::kCompressionZlib;
};
void create_qcow2(const std::string& path, const Qcow2CreateOptions& options);

enum class RepairMode { kNone, kLeaks, kAll };

struct CheckResult {
  uint64_t corruptions = 0, leaks = 0, check_errors = 0;
  uint64_t corruptions_fixed = 0, leaks_fixed = 0;
  uint64_t allocated_clusters = 0, total_clusters = 0, fragmented_clusters = 0, compressed_clusters = 0;
  uint64_t image_end_offset = 0;
  std::vector<std::string> messages;  // one line per problem, qemu-img style
};

class Qcow2Image final : public BlockDevice {
 public:
  Qcow2Image(ImageFile file, qcow2::Header header, bool read_only, std::unique_ptr<BlockDevice> backing);
  // Writes the L2 entries still held back (see l2_dirty_); no sync.
  ~Qcow2Image() override;

  uint64_t size() const override { return h_.size; }
  bool read_only() const override { return read_only_; }
  std::string format() const override { return "qcow2"; }
  void read(uint64_t offset, std::span<uint8_t> buf) override;
  void write(uint64_t offset, std::span<const uint8_t> buf) override;
  void flush() override;
  void discard(uint64_t offset, uint64_t length) override;
  void write_zeroes(uint64_t offset, uint64_t length, bool may_unmap) override;
  Extent block_status(uint64_t offset, uint64_t max_length) override;

  const qcow2::Header& header() const { return h_; }
  uint64_t cluster_size() const { return cs_; }
  BlockDevice* backing() const { return backing_.get(); }
  const std::string& path() const { return file_.path(); }
  uint64_t file_size() const { return file_.size(); }

  // Writes one whole cluster compressed (offset cluster aligned, data one
  // cluster or the disk's short last cluster); plain write if it won't shrink.
  void write_compressed(uint64_t offset, std::span<const uint8_t> data);
  // Changes the virtual size; shrinking drops the clusters past the end.
  void resize(uint64_t new_size, bool allow_shrink);
  // Rewrites the header to name another backing file (or none, with "").
  // Only the header changes: the caller decides whether data must move.
  void set_backing(const std::string& name, const std::string& format);
  // Makes every cluster unallocated (reads come from the backing file again):
  // what commit does to the overlay afterwards.
  void make_empty();
  // Recounts every reference and compares with the refcounts (qemu-img check).
  CheckResult check(RepairMode repair);

  // Internal snapshots (qemu-img snapshot -l/-c/-a/-d), refcounts kept exact.
  // The changing ones first run check() and refuse an image with metadata
  // errors, so hostile tables are never acted on; they switch to their
  // result with one header write, so a crash leaves the image before or after
  // the operation, never in between.
  std::vector<qcow2::Snapshot> snapshots();
  // Takes a snapshot of the current disk named `name`; returns its new ID.
  std::string create_snapshot(const std::string& name);
  // Reverts the disk (contents and size) to the snapshot with this ID or name.
  void apply_snapshot(const std::string& id_or_name);
  void delete_snapshot(const std::string& id_or_name);
  // On a read-only open: reads from now on see the data of the snapshot with
  // this ID or name instead of the active disk's (convert -l); the disk size
  // stays the current one, as in qemu-img.
  void load_snapshot(const std::string& id_or_name);

 private:
  enum class Kind { kUnallocated, kZero, kData, kCompressed };
  struct Mapping {
    Kind kind;
    uint64_t length;      // bytes from the queried offset
    uint64_t host = 0;    // kData: host offset of the queried byte
    uint64_t entry = 0;   // raw L2 entry of the first cluster
    bool owned = false;   // kData with COPIED in L1 and L2: writable in place
  };
  using L2Table = std::vector<uint64_t>;

  Mapping map(uint64_t offset, uint64_t max_length);  // meta_lock_ or the exclusive lock
  std::shared_ptr<L2Table> load_l2(uint64_t l2_offset);  // meta_lock_ or the exclusive lock
  L2Table& l2_for_write(uint64_t l1_index, uint64_t& l2_offset);  // meta_lock_ or the exclusive lock
  void read_mapped(const Mapping& m, uint64_t offset, std::span<uint8_t> out);
  void read_compressed(uint64_t entry, std::span<uint8_t> cluster);
  void read_backing(uint64_t offset, std::span<uint8_t> out);
  void old_cluster_content(uint64_t entry, uint64_t cluster_vaddr, std::span<uint8_t> out);
  // Allocating writes (qcow2_alloc.cc).
  void write_locked(uint64_t offset, std::span<const uint8_t> buf);  // exclusive lock
  // Overwrites in place from pos while the clusters are owned (lock_ held,
  // meta_lock_ not); returns where it stopped. data holds the bytes from
  // data_at on.
  uint64_t write_owned(uint64_t pos, uint64_t end, uint64_t data_at, std::span<const uint8_t> data);
  // One run of clusters in one L2 table that a write gives new space.
  struct AllocRun {
    uint64_t l1_index = 0, first = 0, count = 0;  // L2 entries [first, first + count)
    uint64_t vstart = 0;        // guest offset of the first cluster
    uint64_t from = 0, to = 0;  // guest bytes the write covers
    uint64_t host = 0;          // the new space
    std::vector<uint64_t> old;  // the entries it replaces
    bool zero_whole = false;    // nothing old to keep: zero the whole run once
    bool prezeroed = false;     // the run reads as zeros already: only the data to write
    bool needs_exclusive = false;  // count 0: the cluster at pos has space of its own
  };
  // The run at pos (a cluster not owned) up to end, stopping before owned
  // clusters and allocations in flight (and, if fresh_only, clusters with
  // space of their own); its space allocated. count 0: the cluster at pos is
  // owned now, or needs_exclusive. Under meta_lock_ or the exclusive lock.
  AllocRun plan_alloc(uint64_t pos, uint64_t end, bool fresh_only);
  // A run to zero whole: uses (or, when it grows the file, makes) clusters
  // zeroed ahead (Refcounts::zeroed) instead. In plan_alloc.
  void use_zeroed_ahead(AllocRun& r);
  void alloc_io(const AllocRun& r, std::span<const uint8_t> data);  // no lock needed
  void commit_alloc(const AllocRun& r);  // under meta_lock_ or the exclusive lock
  bool zeros_before(uint64_t entry, uint64_t cluster_vaddr) const;
  // An AllocRun between plan and commit (in pending_, under meta_lock_).
  struct Pending {
    uint64_t first_cluster, count;
    std::mutex m;
    std::condition_variable cv;
    bool done = false;
    Pending(uint64_t f, uint64_t n) : first_cluster(f), count(n) {}
    void wait();
    void finish();
  };
  std::shared_ptr<Pending> pending_at(uint64_t cluster) const;  // meta_lock_
  void end_pending(const std::shared_ptr<Pending>& p);          // meta_lock_
  void set_entries(uint64_t offset, uint64_t length, uint64_t entry);  // exclusive lock
  uint64_t zero_entry() const;
  void release_entry(uint64_t entry);
  void write_l2_entries(uint64_t l2_offset, const L2Table& t, uint64_t first, uint64_t count);
  void check_range(uint64_t offset, uint64_t length) const;
  void check_writable() const;
  void check_host_range(uint64_t host, uint64_t length) const;
  qcow2::Refcounts& refcounts();
  void compressed_range(uint64_t entry, uint64_t& host, uint64_t& length) const;
  [[noreturn]] void corrupt(const std::string& what) const;
  CheckResult check_locked(RepairMode repair);  // exclusive lock
  // Snapshot helpers (qcow2_snapshot_ops.cc), exclusive lock held.
  void require_consistent(const std::string& action);
  std::vector<uint64_t> read_l1(uint64_t offset, uint32_t entries);
  void drop_l2_cache();
  // The exclusive lock, with every held-back L2 entry written first: whatever
  // runs under it may read tables from the file or switch to new ones.
  std::unique_lock<std::shared_mutex> exclusive();
  // Fresh allocations' L2 entries are held back in memory (like QEMU's
  // metadata cache) and written by flush(), by exclusive(), when their table
  // leaves the cache, and on close: each buffered write of one took ext4's
  // inode lock exclusively under meta_lock_, which stalled every direct write
  // in flight (bench/img/RESULTS.md). Only entries that replace nothing are
  // held back, so a crash loses an unflushed write (allowed) and leaks its
  // cluster (refcount already 1), never more. Under meta_lock_ or the
  // exclusive lock.
  void hold_back_l2(uint64_t l2_offset, uint64_t first, uint64_t count);
  void write_back_l2();
  void write_held_back(uint64_t l2_offset, const L2Table& t);  // one table's, if any
  // What the image is to hold after a snapshot operation: disk size, active
  // L1 entries (COPIED flags are recomputed), snapshots with their L1 entries
  // (l1_table_offset 0: a new table).
  struct NextMetadata {
    uint64_t size = 0;
    std::vector<uint64_t> active_l1;
    std::vector<qcow2::Snapshot> snapshots;
    std::vector<std::vector<uint64_t>> snapshot_l1;
  };
  // Builds that metadata past the end of the file with refcounts recounted
  // from scratch and switches to it with one header write
  // (qcow2_switch.cc): a crash leaves the old image or the new, both clean.
  void switch_metadata(NextMetadata next, const std::string& action);
  NextMetadata current_metadata(std::vector<qcow2::Snapshot> list);

  ImageFile file_;
  qcow2::Header h_;
  bool read_only_;
  std::unique_ptr<BlockDevice> backing_;
  uint64_t backing_size_ = 0;
  uint64_t cs_;
  uint64_t l2_entries_;
  std::vector<uint64_t> l1_;
  std::optional<qcow2::Refcounts> refcounts_;
  std::shared_mutex lock_;
  std::mutex meta_lock_;  // under the shared lock: tables (l1_, l2_cache_), refcounts, pending_
  std::vector<std::shared_ptr<Pending>> pending_;
  std::map<uint64_t, std::shared_ptr<L2Table>> l2_cache_;
  // Cached L2 tables (by offset) whose entries [first, end) are newer in
  // memory than in the file (hold_back_l2).
  std::map<uint64_t, std::pair<uint64_t, uint64_t>> l2_dirty_;
  std::atomic<uint64_t> file_end_{0};  // host offsets at or past this are corrupt
  // On a writable image, an L1 or L2 entry read from the file that points at
  // a cluster that is free or was allocated since the image was opened, or
  // at or past the end the file had then (or when it last switched to
  // checked metadata), is corrupt: else a hostile entry would alias a
  // cluster allocated for other data, and a write through it overwrite that
  // data. Tables this process wrote (written_l2_) are not checked again when
  // they come back into the cache. (Two entries of unread tables that share
  // a cluster with refcount 1 are beyond this: `img check` finds those.)
  uint64_t trusted_end_ = 0;
  std::unordered_set<uint64_t> written_l2_;  // meta_lock_ or the exclusive lock
  void check_loaded_l2(uint64_t l2_offset, const L2Table& t);  // meta_lock_ or the exclusive lock
  bool in_use_before(qcow2::Refcounts& rc, uint64_t host) const;  // refcount > 0, not handed out since
};

namespace detail {
// Opens a qcow2 image on an open file; backing images through open_backing.
std::unique_ptr<BlockDevice> open_qcow2(ImageFile file, const OpenOptions& options,
                                        const std::function<std::unique_ptr<BlockDevice>(const qcow2::Header&)>& open_backing);
}  // namespace detail

}  // namespace insula::block
