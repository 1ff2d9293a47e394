// The qcow2 internal snapshot table: parsing (bounds-checked) for check,
// info and snapshot -l.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "block/file.h"
#include "block/qcow2_format.h"

namespace insula::block::qcow2 {

struct Snapshot {
  uint64_t l1_table_offset = 0;
  uint32_t l1_size = 0;
  std::string id, name;
  uint32_t date_sec = 0, date_nsec = 0;
  uint64_t vm_clock_nsec = 0;
  uint64_t vm_state_size = 0;
  uint64_t disk_size = 0;
  uint64_t icount = UINT64_MAX;  // UINT64_MAX: not recorded
};

// Reads the table; total_bytes gets its size on disk. Throws Error if bad.
std::vector<Snapshot> read_snapshots(const ImageFile& file, const Header& h, uint64_t& total_bytes);

}  // namespace insula::block::qcow2
