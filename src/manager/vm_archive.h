// The `insula vm export` archive: a tar (optionally zstd-compressed) whose
// first entry is manifest.json, then every file the manifest lists:
//
//   manifest.json              format, format_version, the VM's config
//                              record and devices, disks, snapshots, and
//                              files [{path, size, sha256}]
//   boot/kernel, boot/initrd   what the VM boots
//   disks/diskN.qcow2          a disk, flattened or alone; or its chain as
//   disks/diskN.J.qcow2        J = 0 (the top) .. n-1, each member's backing
//                              file named relative (diskN.<J+1>.qcow2)
//   snapshots/SNAP/state       full snapshots, as vm_snapshot.cc writes them
//   snapshots/SNAP/memory
//
// Every disk is qcow2 in the archive (raw ones are converted, so a sparse
// raw disk does not become its full size). Archive member paths are checked
// on both sides by check_member_path.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace insula::manager {

inline constexpr const char* kExportFormat = "insula-vm-export";
inline constexpr int kExportFormatVersion = 1;
inline constexpr const char* kManifestName = "manifest.json";
// Much more than any real manifest: a larger one is refused unread.
inline constexpr uint64_t kMaxManifestSize = 1 << 20;

struct ExportOptions {
  std::string file;
  bool flatten = false;   // each qcow2 chain becomes one image
  std::string snapshot;   // only this snapshot (default: all)
  bool zstd = false;      // compress the tar with zstd
};

struct ExportResult {
  std::string vm, file;
  uint64_t archive_bytes = 0, data_bytes = 0;
  std::vector<std::string> disks, snapshots;
  // Disk-only snapshots left out: a writable disk in the archive lacks them
  // (a backing chain flattened with --flatten loses internal snapshots).
  std::vector<std::string> skipped_snapshots;
  // Set when the VM was running: the full snapshot taken for the export
  // (restore it after import to continue the guest).
  std::string running_snapshot;
};

struct ImportResult {
  std::string vm, file;
  uint64_t files = 0, data_bytes = 0;
  std::vector<std::string> snapshots;
};

// Throws unless path is a plain relative archive member path: components of
// [A-Za-z0-9._-], none empty, "." or "..", at most 255 bytes.
void check_member_path(const std::string& path);
// Lower-case hex SHA-256 of a file's contents (holes read as zeros).
std::string sha256_file(const std::string& path);

}  // namespace insula::manager
