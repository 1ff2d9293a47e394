// The qcow2 internal snapshot table (QEMU docs/interop/qcow2.txt, "Snapshots"):
// parsing with every field bounds-checked against hostile values, and
// serialisation in the layout QEMU writes (24 bytes of extra data, unknown
// extra data kept). The operations that use it (create, apply, delete) are
// Qcow2Image members, in qcow2_snapshot_ops.cc.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "block/file.h"
#include "block/qcow2_format.h"

namespace insula::block::qcow2 {

// QEMU's limits: QCOW_MAX_SNAPSHOT_EXTRA_DATA and QCOW_MAX_SNAPSHOTS_SIZE.
constexpr uint32_t kMaxSnapshotExtraData = 1024;
constexpr uint64_t kMaxSnapshotTableBytes = uint64_t{1024} * kMaxSnapshots;
// The extra data QEMU writes: 64-bit VM state size, disk size, icount.
constexpr uint32_t kSnapshotExtraData = 24;

struct Snapshot {
  uint64_t l1_table_offset = 0;
  uint32_t l1_size = 0;
  std::string id, name;
  uint32_t date_sec = 0, date_nsec = 0;
  uint64_t vm_clock_nsec = 0;
  uint64_t vm_state_size = 0;
  uint64_t disk_size = 0;
  uint64_t icount = UINT64_MAX;  // UINT64_MAX: not recorded
  // Extra data past the fields above, from a newer writer: kept verbatim.
  std::vector<uint8_t> unknown_extra;
};

// Reads the table; total_bytes gets its size on disk. Throws Error naming the
// file when the table or an entry is out of bounds (offsets, sizes, L1
// tables outside the file or larger than QEMU allows).
std::vector<Snapshot> read_snapshots(const ImageFile& file, const Header& h, uint64_t& total_bytes);

// The table as QEMU writes it: each entry with at least 24 bytes of extra
// data, padded to 8 bytes (the last entry's padding not counted).
std::vector<uint8_t> serialize_snapshots(const std::vector<Snapshot>& snapshots);

// The snapshot whose ID is `key`, else the first whose name is (qemu-img's
// lookup order); -1 when none.
int find_snapshot(const std::vector<Snapshot>& snapshots, const std::string& key);

}  // namespace insula::block::qcow2
