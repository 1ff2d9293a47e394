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
};

class VmManager {
 public:
  // insula_exe: the binary to run as `insula vmm` (normally /proc/self/exe).
  VmManager(std::string state_dir, std::string insula_exe);

  VmRecord create(const VmSpec& spec);
  VmRecord start(const std::string& name);
  // How stop() ended the VM.
  enum class StopKind { kGuest, kVmm, kKilled };
  // Unless force: presses the ACPI power button and gives the guest `timeout`
  // to power off (a paused VM is not asked). Then asks the VMM to stop at once
  // (PUT /shutdown), and SIGKILLs it if that does not end it within 5 s.
  StopKind stop(const std::string& name, std::chrono::milliseconds timeout, bool force = false);
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
  // full state and RAM under the VM's directory, records it, and resumes it
  // unless keep_paused (a VM that was paused stays paused).
  SnapshotRecord snapshot(const std::string& name, const std::string& snap, bool keep_paused);
  // Stops the VM if it runs, then starts a VMM that loads the snapshot.
  VmRecord restore(const std::string& name, const std::string& snap);
  std::vector<SnapshotRecord> snapshots(const std::string& name);
  void remove_snapshot(const std::string& name, const std::string& snap);

  // Export/import (vm_export.cc, vm_import.cc; the archive: vm_archive.h).
  // A running VM is exported from a full snapshot taken for it.
  ExportResult export_vm(const std::string& name, const ExportOptions& o, const block::Progress& progress);
  // new_name empty: the name in the archive.
  ImportResult import_vm(const std::string& file, const std::string& new_name, const block::Progress& progress);

  std::string vm_dir(const std::string& name) const;

 private:
  VmRecord existing(const std::string& name);
  VmRecord reconcile(VmRecord r);
  void mark_stopped(VmRecord& r);
  bool wait_gone(const VmRecord& r, std::chrono::milliseconds timeout);
  // With the VM's lock held: spawn a VMM, then configure(api) sets it up
  // and starts the guest; on any failure the VMM is killed.
  VmRecord launch_locked(const std::string& name, const std::function<void(const api::ApiClient&)>& configure);
  StopKind stop_locked(VmRecord& r, std::chrono::milliseconds timeout, bool force);
  std::string snapshot_dir(const std::string& name, const std::string& snap) const;

  std::string state_dir_;
  std::string exe_;
  VmStore store_;
};

// Checks a VM name: it becomes a directory and a socket name.
void check_vm_name(const std::string& name);

}  // namespace insula::manager
