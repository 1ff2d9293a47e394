// The disk part of a full snapshot, and disk-only snapshots of a running
// VM: a qcow2 internal snapshot of one name in every writable disk, taken
// through the images the VMM has open (two writers must never share a
// qcow2 file, so nothing else may touch them while the VMM runs).
//
// A full snapshot that includes its disks lists them in the state file's
// "machine/disk-snapshots" section (indexes into the saved config's disks,
// whose paths an import rewrites, and the snapshot name); loading such a
// snapshot reverts every listed disk before the machine opens it. The
// section is snapshot-only: live migration sends the disks another way.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "block/block_device.h"
#include "vmm/machine_config.h"

namespace insula {
class StateReader;
class StateWriter;
}  // namespace insula

namespace insula::block {
class Qcow2Image;
}

namespace insula::vmm {

// A disk as the machine opened it (config.disks[index]).
struct OpenDisk {
  size_t index = 0;
  std::string path;
  bool read_only = false;
  std::shared_ptr<block::BlockDevice> dev;
};

struct DiskSnapshotRef {
  uint32_t disk = 0;  // index into the config's disks
  std::string name;   // the qcow2 internal snapshot's name
};

namespace section {
inline constexpr const char* kDiskSnapshots = "machine/disk-snapshots";
}
inline constexpr uint32_t kDiskSnapshotsVersion = 1;

// The ID of q's internal snapshot named `name`, if it has one. (qcow2
// looks IDs up before names, so a snapshot named "2" must be found by its
// own ID.)
std::optional<std::string> internal_snapshot_id(block::Qcow2Image& q, const std::string& name);
// Whether the qcow2 file at path (its own snapshot table, not its backing
// files') has an internal snapshot named `name`; false for other formats.
bool has_internal_snapshot(const std::string& path, const std::string& name);

// Checks that a snapshot name is one insula can store and find again.
void check_disk_snapshot_name(const std::string& name);

// With the devices quiesced: flushes every writable disk and takes the
// internal snapshot `name` in each, all or none (a failure deletes the ones
// already made). Throws Error naming the disk, before changing any, for a
// raw writable disk or one that already has a snapshot of that name.
std::vector<DiskSnapshotRef> create_disk_snapshots(const std::vector<OpenDisk>& disks, const std::string& name);
// Deletes the internal snapshot `name` from every writable disk that has
// it; returns how many had it.
size_t delete_disk_snapshots(const std::vector<OpenDisk>& disks, const std::string& name);

void save_disk_snapshots(StateWriter& w, const std::vector<DiskSnapshotRef>& refs);

// A state file's disk part: each listed disk's file (from the saved
// config) and its snapshot name; empty when the snapshot has none.
struct DiskPart {
  std::string path, format, name;
};
std::vector<DiskPart> disk_part(const MachineConfig& config, const StateReader& r);
std::vector<DiskPart> disk_part(const StateReader& r);  // the config from the state file
// Opens each disk (read-only unless revert) and checks it has its snapshot,
// all before changing any; with revert, then reverts each disk to it.
// Throws Error naming the disk and the snapshot.
void check_disk_part(const std::vector<DiskPart>& part, bool revert);

}  // namespace insula::vmm
