// VmRecord: what the state database keeps about one named VM.
#pragma once

#include <cstdint>
#include <string>

namespace insula::manager {

struct VmRecord {
  std::string name;
  std::string kernel, initrd, cmdline;
  uint32_t cpus = 1;
  uint64_t memory = 256ULL << 20;
  // The devices, as the VMM API's request bodies: {"drives": [...],
  // "network-interfaces": [...], "vsock": {...}, "balloon": {...}} (JSON text).
  std::string devices = "{}";
  // Runtime: the VMM process serving it (pid 0: none) and what it said last.
  std::string state = "stopped";  // stopped, starting, running, paused
  int64_t pid = 0;
  uint64_t pid_start = 0;  // the process's start time (/proc/PID/stat field 22): pids get reused
  std::string api_socket, console_socket, log_path;
  int64_t created_at = 0;  // unix seconds
};

// One snapshot of a VM (`insula vm snapshot`). A full one is two files under
// the VM's directory; a record exists only once both are complete. A
// disk-only one is a qcow2 internal snapshot named `name` in every writable
// disk of the VM (no files, paths empty); recorded once every disk has it.
struct SnapshotRecord {
  std::string vm, name;
  std::string kind = "full";  // "full" (memory + devices + disks) or "disk"
  std::string state_path, memory_path;
  uint64_t memory = 0;     // guest RAM size: the memory file's size
  int64_t created_at = 0;  // unix seconds
};

// A VM image (`insula vm image`): disks flattened into <state>/images/NAME/
// and, when made from a VM, that VM's configuration to clone it with.
struct ImageRecord {
  std::string name, dir;
  // {"kernel", "initrd", "cmdline", "cpus", "memory", "devices"} (JSON text);
  // a disk-only image (from a plain file) has no kernel.
  std::string config = "{}";
  std::string source;      // what it was made from: "vm:NAME" or the file's path
  int64_t created_at = 0;  // unix seconds
};

// A disk file that a clone's qcow2 overlay is backed by, and who owns it: a
// VM (its disk) or an image. While a row exists the owner cannot be removed
// and no VM may write the base.
struct BaseRef {
  std::string vm;          // the clone
  std::string base;        // absolute path of the backing file
  std::string owner_kind;  // "vm" or "image"
  std::string owner;
};

}  // namespace insula::manager
