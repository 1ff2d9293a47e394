// VmManager: the `insula vm` verbs over the state database and the VMM
// processes. The database says what should be; /proc and each VMM's API say
// what is: every read reconciles the two and fixes the record, so a killed
// CLI or VMM never leaves a record that lies for longer than the next look.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "block/image_ops.h"
#include "manager/vm_archive.h"
#include "manager/vm_record.h"
#include "vmm/machine_config.h"
#include "manager/vm_store.h"

namespace insula::api {
class ApiClient;
}

namespace insula::manager {

struct VmSpec {
  std::string name, kernel, initrd, cmdline;
  uint32_t cpus = 1;
  uint64_t memory = 256ULL << 20;
  std::vector<vmm::DiskConfig> disks;
  std::vector<vmm::NetConfig> nets;
  std::optional<vmm::VsockConfig> vsock;
  std::optional<vmm::BalloonConfig> balloon;
  // Fresh qcow2 disks of these sizes made in the VM's directory (after the
  // --disk ones); the index in `disks` of the root device, if any.
  std::vector<uint64_t> blank_disks;
  std::optional<size_t> root_disk;
};

// `vm create --from`: what to clone and which of the spec's fields override
// the source's (the others are copied from it). The spec's disks are added
// after the cloned ones; nets, vsock and balloon, when given, replace the source's.
struct CloneOptions {
  std::string from;   // a VM or image name ("vm:NAME"/"image:NAME" when both exist)
  bool full = false;  // copy the disks instead of making overlays
  bool kernel = false, initrd = false, cmdline = false, cpus = false, memory = false;
};

class VmManager {
 public:
  // insula_exe: the binary to run as `insula vmm` (normally /proc/self/exe).
  VmManager(std::string state_dir, std::string insula_exe);

  VmRecord create(const VmSpec& spec);
  VmRecord start(const std::string& name);
  // How stop() ended the VM.
  enum class StopKind { kGuest, kVmm, kKilled };
  // How stop() asks the guest: the ACPI power button, or Ctrl-Alt-Del on
  // the PS/2 keyboard (for guests without ACPI button handling).
  enum class StopMethod { kAcpi, kCtrlAltDel };
  // Unless force: asks the guest (method) and gives it `timeout` to power
  // off (a paused VM is not asked). Then asks the VMM to stop at once
  // (PUT /shutdown), and SIGKILLs it if that does not end it within 5 s.
  StopKind stop(const std::string& name, std::chrono::milliseconds timeout, bool force = false,
                StopMethod method = StopMethod::kAcpi);
  VmRecord kill(const std::string& name);
  VmRecord pause(const std::string& name);
  VmRecord resume(const std::string& name);
  // The balloon of a running VM: PATCH /balloon, GET /balloon/statistics.
  void set_balloon(const std::string& name, uint32_t mib);
  nlohmann::json balloon_stats(const std::string& name);
  VmRecord info(const std::string& name);  // reconciled
  std::vector<VmRecord> list();            // reconciled
  void remove(const std::string& name, bool force);

  // Snapshots (vm_snapshot.cc). snapshot: pauses a running VM, writes its
  // full state and RAM under the VM's directory and (unless !with_disks) a
  // qcow2 internal snapshot named snap in every writable disk, records it,
  // and resumes it unless keep_paused (a VM that was paused stays paused).
  SnapshotRecord snapshot(const std::string& name, const std::string& snap, bool keep_paused, bool with_disks = true);
  // Disk-only (vm_disk_snapshot.cc): a qcow2 internal snapshot named snap in
  // every writable disk, all or none, then the record. A running VM's VMM
  // takes it (paused, flushed and drained meanwhile).
  SnapshotRecord snapshot_disks(const std::string& name, const std::string& snap);
  // Full: stops the VM if it runs, then starts a VMM that loads the snapshot.
  // Disk-only: the VM must be stopped; reverts every disk and leaves it stopped.
  VmRecord restore(const std::string& name, const std::string& snap);
  std::vector<SnapshotRecord> snapshots(const std::string& name);
  void remove_snapshot(const std::string& name, const std::string& snap);

  // Export/import (vm_export.cc, vm_import.cc; the archive: vm_archive.h).
  // A running VM is exported from a full snapshot taken for it.
  ExportResult export_vm(const std::string& name, const ExportOptions& o, const block::Progress& progress);
  // new_name empty: the name in the archive.
  ImportResult import_vm(const std::string& file, const std::string& new_name, const block::Progress& progress);

  std::string vm_dir(const std::string& name) const;

  // Clones (vm_clone.cc): a VM whose disks are qcow2 overlays backed by the
  // source's disks (which become read-only bases), or with full, copies.
  VmRecord create_from(const VmSpec& spec, const CloneOptions& from, const std::function<void(double)>& progress);
  // VM images (vm_image.cc): the disks of a stopped VM (and its config), or
  // one disk file, flattened into <state>/images/NAME/.
  ImageRecord create_image(const std::string& image, const std::string& from_vm, const std::string& from_file,
                           const std::function<void(double)>& progress);
  std::vector<ImageRecord> images();
  void remove_image(const std::string& image);

 private:
  VmRecord existing(const std::string& name);
  VmRecord reconcile(VmRecord r);
  void mark_stopped(VmRecord& r);
  bool wait_gone(const VmRecord& r, std::chrono::milliseconds timeout);
  // With the VM's lock held: spawn a VMM, then configure(api) sets it up
  // and starts the guest; on any failure the VMM is killed.
  VmRecord launch_locked(const std::string& name, const std::function<void(const api::ApiClient&)>& configure);
  StopKind stop_locked(VmRecord& r, std::chrono::milliseconds timeout, bool force,
                       StopMethod method = StopMethod::kAcpi);
  std::string snapshot_dir(const std::string& name, const std::string& snap) const;
  // With the VM's lock held (vm_disk_snapshot.cc).
  VmRecord restore_disks(const std::string& name, const SnapshotRecord& s);
  void remove_disk_snapshot(const std::string& name, const std::string& snap);
  // Deletes the internal snapshot snap from the VM's writable disks, through
  // its VMM when it runs; names the disks that could not be opened.
  void delete_internal_snapshots(const VmRecord& r, const std::string& snap);
  // Refuses to start a VM with a writable disk that clones are backed by.
  void check_no_writable_base(const VmRecord& r);
  // The VM's directory made fresh for a new record (leftovers of a killed
  // create removed); throws if the name is taken.
  std::string new_vm_dir(const std::string& name);
  std::string images_dir() const;

  std::string state_dir_;
  std::string exe_;
  VmStore store_;
};

// Checks a VM name: it becomes a directory and a socket name.
void check_vm_name(const std::string& name);
// Checks a snapshot name: the same rules (it becomes a directory).
void check_snapshot_name(const std::string& snap);
// Whether the VM has a disk its guest can write (one a snapshot must hold).
bool has_writable_disks(const VmRecord& r);
// The API bodies `start` sends for the spec's devices (files checked, paths
// made absolute); drive ids start at disk<first_drive>.
nlohmann::json device_bodies(const VmSpec& spec, size_t first_drive = 0);

}  // namespace insula::manager
