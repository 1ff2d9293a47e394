// Qcow2Image: the qcow2 driver (QEMU's format, v2 and v3) as a BlockDevice,
// plus what `insula img` needs beyond it: create, check/repair, compressed
// writes, header access.
//
// Locking: a shared_mutex. Reads and in-place overwrites of clusters this
// image owns alone (COPIED) run under the shared lock, in parallel; anything
// that changes metadata (allocation, zeroing, discard) takes it exclusively.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
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

  Mapping map(uint64_t offset, uint64_t max_length);  // any lock held
  std::shared_ptr<L2Table> load_l2(uint64_t l2_offset);
  L2Table& l2_for_write(uint64_t l1_index, uint64_t& l2_offset);  // exclusive lock
  void read_mapped(const Mapping& m, uint64_t offset, std::span<uint8_t> out);
  void read_compressed(uint64_t entry, std::span<uint8_t> cluster);
  void read_backing(uint64_t offset, std::span<uint8_t> out);
  void old_cluster_content(uint64_t entry, uint64_t cluster_vaddr, std::span<uint8_t> out);
  void write_locked(uint64_t offset, std::span<const uint8_t> buf);  // exclusive lock
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
  std::mutex l2_cache_lock_;  // guards the cache map under the shared lock
  std::map<uint64_t, std::shared_ptr<L2Table>> l2_cache_;
  std::atomic<uint64_t> file_end_{0};  // host offsets at or past this are corrupt
};

namespace detail {
// Opens a qcow2 image on an open file; backing images through open_backing.
std::unique_ptr<BlockDevice> open_qcow2(ImageFile file, const OpenOptions& options,
                                        const std::function<std::unique_ptr<BlockDevice>(const qcow2::Header&)>& open_backing);
}  // namespace detail

}  // namespace insula::block
