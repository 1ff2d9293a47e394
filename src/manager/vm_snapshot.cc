// VmManager's snapshot verbs: snapshot, restore, snapshots, snapshot-rm.
//
// A snapshot lives in <vm dir>/snapshots/<SNAP>/{state,memory}, and (its
// disk part) as a qcow2 internal snapshot SNAP in every writable disk. It is
// written into <SNAP>.partial/ (each file through its own temporary name),
// the directory is renamed into place once both files are complete, and only
// then is the record inserted: a record never points at a partial snapshot,
// and a crash leaves at most a .partial directory the next attempt removes.
#include <filesystem>

#include "api/api_client.h"
#include "base/error.h"
#include "base/state_file.h"
#include "manager/vm_lock.h"
#include "manager/vm_manager.h"
#include "vmm/disk_snapshots.h"

namespace insula::manager {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {
// Writing guest RAM takes time proportional to its size.
constexpr auto kSnapshotTimeout = std::chrono::minutes(10);
}  // namespace

std::string VmManager::snapshot_dir(const std::string& name, const std::string& snap) const {
  return vm_dir(name) + "/snapshots/" + snap;
}

void check_snapshot_name(const std::string& snap) {
  try {
    check_vm_name(snap);
  } catch (const Error&) {
    throw error("invalid snapshot name \"{}\": use 1-48 letters, digits, '-', '_' or '.', not starting with '.' or '-'",
                snap);
  }
}

SnapshotRecord VmManager::snapshot(const std::string& name, const std::string& snap, bool keep_paused, bool with_disks) {
  check_snapshot_name(snap);
  VmLock lock(vm_dir(name) + ".lock");
  VmRecord r = reconcile(existing(name));
  if (r.pid == 0) throw error("VM {} is not running: only a running or paused VM can be snapshotted", name);
  if (store_.get_snapshot(name, snap)) throw error("VM {} already has a snapshot named {}: remove it first (insula vm snapshot-rm)", name, snap);

  std::string final_dir = snapshot_dir(name, snap), partial = final_dir + ".partial";
  fs::remove_all(partial);
  fs::remove_all(final_dir);  // files without a record: left by a crash between rename and insert
  fs::create_directories(partial);
  SnapshotRecord s;
  s.vm = name;
  s.name = snap;
  s.state_path = final_dir + "/state";
  s.memory_path = final_dir + "/memory";
  s.memory = r.memory;

  api::ApiClient api(r.api_socket, kSnapshotTimeout);
  bool was_paused = r.state == "paused";
  if (!was_paused) api.expect_ok("PATCH", "/vm", nlohmann::json{{"state", "Paused"}});
  try {
    nlohmann::json body{{"snapshot_type", "Full"},
                        {"snapshot_path", partial + "/state"},
                        {"mem_file_path", partial + "/memory"}};
    // The disks at the same instant, taken by the VMM that has them open:
    // restoring then gives the guest a disk that agrees with its page cache.
    if (with_disks && has_writable_disks(r)) body["disk_snapshot_name"] = snap;
    api.expect_ok("PUT", "/snapshot/create", body);
    fs::rename(partial, final_dir);
    store_.insert_snapshot(s);
  } catch (...) {
    std::error_code ignored;
    fs::remove_all(partial, ignored);
    if (!was_paused) api.call("PATCH", "/vm", nlohmann::json{{"state", "Resumed"}});
    throw;
  }
  if (!was_paused && !keep_paused) api.expect_ok("PATCH", "/vm", nlohmann::json{{"state", "Resumed"}});
  reconcile(r);
  return *store_.get_snapshot(name, snap);
}

VmRecord VmManager::restore(const std::string& name, const std::string& snap) {
  VmLock lock(vm_dir(name) + ".lock");
  VmRecord r = reconcile(existing(name));
  auto s = store_.get_snapshot(name, snap);
  if (!s) throw error("VM {} has no snapshot named {} (see insula vm snapshots {})", name, snap, name);
  if (s->kind == "disk") return restore_disks(name, *s);
  for (const auto& f : {s->state_path, s->memory_path})
    if (!fs::exists(f)) throw error("snapshot {} of VM {} is missing its file {}: remove it (insula vm snapshot-rm)", snap, name, f);
  // Checked before the running VM is stopped: a damaged snapshot changes nothing.
  try {
    StateReader state = StateReader::read_file(s->state_path);
    if (fs::file_size(s->memory_path) != s->memory)
      throw error("memory file {} is {} bytes, expected {}: it is truncated or was replaced", s->memory_path,
                  fs::file_size(s->memory_path), s->memory);
    // Every disk must still have its part (read-only here: a running VMM
    // owns the files); the VMM that loads the snapshot reverts them.
    vmm::check_disk_part(vmm::disk_part(state), /*revert=*/false);
  } catch (const Error& e) {
    throw error("cannot restore VM {} from snapshot {}: {}", name, snap, e.what());
  }
  if (r.pid != 0) stop_locked(r, 0ms, /*force=*/true);  // its state is replaced anyway
  // Loading maps the memory file lazily: it takes the same time for any guest size.
  return launch_locked(name, [&](const api::ApiClient& api) {
    api.expect_ok("PUT", "/snapshot/load",
                   nlohmann::json{{"snapshot_path", s->state_path},
                                  {"mem_backend", {{"backend_type", "File"}, {"backend_path", s->memory_path}}},
                                  {"resume_vm", true}});
  });
}

std::vector<SnapshotRecord> VmManager::snapshots(const std::string& name) {
  existing(name);
  return store_.list_snapshots(name);
}

void VmManager::remove_snapshot(const std::string& name, const std::string& snap) {
  VmLock lock(vm_dir(name) + ".lock");
  existing(name);
  auto s = store_.get_snapshot(name, snap);
  if (!s) throw error("VM {} has no snapshot named {}", name, snap);
  if (s->kind == "disk") return remove_disk_snapshot(name, snap);
  // Whether it has a disk part is in its state file. An unreadable one
  // (truncated, gone) may have had one: the internal snapshots of its name
  // are deleted then too (insula never makes a snapshot whose name a disk
  // already holds, so they are this snapshot's).
  bool disk_part = true, presumed = false;
  try {
    disk_part = !vmm::disk_part(StateReader::read_file(s->state_path)).empty();
  } catch (const Error&) {
    presumed = true;
  }
  // The record goes first: a crash then leaves files without a record, which
  // the next snapshot of that name replaces, never a record without files.
  // A VM restored from it keeps running: its RAM mapping holds the file.
  store_.remove_snapshot(name, snap);
  fs::remove_all(snapshot_dir(name, snap));
  if (!disk_part) return;
  try {
    delete_internal_snapshots(reconcile(existing(name)), snap);
  } catch (const Error&) {
    // Only presumed (an older snapshot had none): a raw or missing disk is no error then.
    if (!presumed) throw;
  }
}

}  // namespace insula::manager
