// Disk-only snapshots (`insula vm snapshot NAME SNAP --disk-only`): a qcow2
// internal snapshot named SNAP in every writable disk of a VM, so qemu-img
// lists and applies them too.
//
// A stopped VM's disks are snapshotted here with the block layer (the code
// behind `insula img snapshot`); a running or paused VM's by its VMM (PUT
// /snapshot/create {snapshot_type: "Disk"}), which has the images open and
// pauses, flushes and drains around it: two processes must never write one
// qcow2 file. All or none: every disk is opened and checked before any
// changes, a failure on one disk deletes the snapshots already made on the
// others, and the record is inserted last. A killed CLI can leave internal
// snapshots without a record (never a record without them); the next
// snapshot of that name refuses and says how to delete them. Read-only disks
// are left alone: the guest cannot change them, and they may be a shared
// clone base.
#include <optional>

#include "api/api_client.h"
#include "base/error.h"
#include "block/qcow2.h"
#include "manager/vm_lock.h"
#include "manager/vm_manager.h"
#include "vmm/disk_snapshots.h"

namespace insula::manager {

namespace {

struct QcowDisk {
  std::string path;
  std::unique_ptr<block::BlockDevice> dev;
  block::Qcow2Image* q = nullptr;
};

// Opens every writable disk of r as qcow2; throws before anything changes
// when one is a base that clones read, or (unless unopened collects them) is
// raw or cannot be opened.
std::vector<QcowDisk> open_disks(const VmRecord& r, VmStore& store, std::vector<std::string>* unopened = nullptr) {
  auto devices = nlohmann::json::parse(r.devices, nullptr, false);
  if (!devices.is_object()) throw error("the device record of VM {} is not valid JSON", r.name);
  std::vector<QcowDisk> out;
  for (const auto& d : devices.value("drives", nlohmann::json::array())) {
    if (d.value("is_read_only", false)) continue;
    QcowDisk disk;
    disk.path = d.value("path_on_host", "");
    for (const auto& c : store.clones_of(disk.path))
      if (c.vm != r.name)
        throw error("VM {}'s disk {} is the read-only base of clone {}: a snapshot would write it under the clone. "
                    "Take the snapshot in the clone, or remove the clone first",
                    r.name, disk.path, c.vm);
    try {
      block::OpenOptions o;
      o.format = d.value("format", "");
      o.ignore_backing = true;  // internal snapshots live in this file alone
      disk.dev = block::open_image(disk.path, o);
      disk.q = dynamic_cast<block::Qcow2Image*>(disk.dev.get());
      if (!disk.q)
        throw error("VM {}'s disk {} is a {} image: only qcow2 disks have internal snapshots. Convert it "
                    "(insula img convert -O qcow2 {} NEW.qcow2) and give the VM that disk, or take a full snapshot "
                    "of the running VM instead",
                    r.name, disk.path, disk.dev->format(), disk.path);
    } catch (const Error& e) {
      if (!unopened) throw;
      unopened->push_back(e.what());
      continue;
    }
    out.push_back(std::move(disk));
  }
  if (out.empty() && !unopened)
    throw error("VM {} has no writable disks: a disk-only snapshot would hold nothing", r.name);
  return out;
}

// Reverting the disks under a running guest would contradict its page cache.
void require_stopped(const VmRecord& r) {
  if (r.pid != 0)
    throw error("VM {} is {}: restoring a disk-only snapshot needs it stopped, since the running guest's caches would "
                "disagree with its reverted disks. Stop it (insula vm stop {}), or use a full snapshot, which restores "
                "memory and disks together",
                r.name, r.state, r.name);
}

}  // namespace

bool has_writable_disks(const VmRecord& r) {
  auto devices = nlohmann::json::parse(r.devices, nullptr, false);
  if (!devices.is_object()) return false;
  for (const auto& d : devices.value("drives", nlohmann::json::array()))
    if (!d.value("is_read_only", false)) return true;
  return false;
}

SnapshotRecord VmManager::snapshot_disks(const std::string& name, const std::string& snap) {
  check_snapshot_name(snap);
  VmLock lock(vm_dir(name) + ".lock");
  VmRecord r = reconcile(existing(name));
  if (store_.get_snapshot(name, snap))
    throw error("VM {} already has a snapshot named {}: remove it first (insula vm snapshot-rm)", name, snap);
  if (r.pid != 0) {
    if (r.state != "running" && r.state != "paused")
      throw error("VM {} is {}: a disk-only snapshot needs it stopped, running or paused", name, r.state);
    if (!has_writable_disks(r))
      throw error("VM {} has no writable disks: a disk-only snapshot would hold nothing", name);
    api::ApiClient api(r.api_socket, std::chrono::minutes(2));
    api.expect_ok("PUT", "/snapshot/create", nlohmann::json{{"snapshot_type", "Disk"}, {"disk_snapshot_name", snap}});
    SnapshotRecord s;
    s.vm = name;
    s.name = snap;
    s.kind = "disk";
    try {
      store_.insert_snapshot(s);
    } catch (...) {
      api.call("PUT", "/snapshot/delete", nlohmann::json{{"disk_snapshot_name", snap}});
      throw;
    }
    return *store_.get_snapshot(name, snap);
  }
  auto disks = open_disks(r, store_);
  for (auto& d : disks)
    if (vmm::internal_snapshot_id(*d.q, snap))
      throw error("disk {} of VM {} already has an internal snapshot named {} that insula has no record of (left by "
                  "a killed `vm snapshot`, or made with `insula img snapshot`): delete it (insula img snapshot -d {} "
                  "{}) or choose another name",
                  d.path, name, snap, snap, d.path);

  std::vector<std::pair<block::Qcow2Image*, std::string>> made;  // disk, snapshot ID
  try {
    for (auto& d : disks) {
      made.emplace_back(d.q, d.q->create_snapshot(snap));
      d.q->flush();
    }
    SnapshotRecord s;
    s.vm = name;
    s.name = snap;
    s.kind = "disk";
    store_.insert_snapshot(s);
  } catch (...) {
    for (auto& [q, id] : made) {
      try {
        q->delete_snapshot(id);
        q->flush();
      } catch (const std::exception&) {
        // Left as an internal snapshot without a record: the next attempt names it.
      }
    }
    throw;
  }
  return *store_.get_snapshot(name, snap);
}

VmRecord VmManager::restore_disks(const std::string& name, const SnapshotRecord& s) {
  VmRecord r = reconcile(existing(name));
  require_stopped(r);
  auto disks = open_disks(r, store_);
  // Every disk must have it before any is reverted.
  std::vector<std::string> ids;
  for (auto& d : disks) {
    auto id = vmm::internal_snapshot_id(*d.q, s.name);
    if (!id)
      throw error("disk {} of VM {} has no internal snapshot named {} (deleted with qemu-img or insula img, or the "
                  "disk was replaced): nothing was reverted; remove the snapshot (insula vm snapshot-rm {} {})",
                  d.path, name, s.name, name, s.name);
    ids.push_back(*id);
  }
  for (size_t i = 0; i < disks.size(); ++i) {
    try {
      disks[i].q->apply_snapshot(ids[i]);
      disks[i].q->flush();
    } catch (const Error& e) {
      throw error("restoring snapshot {} of VM {}: {} of {} disks reverted, then disk {} failed: {}", s.name, name, i,
                  disks.size(), disks[i].path, e.what());
    }
  }
  return r;
}

void VmManager::remove_disk_snapshot(const std::string& name, const std::string& snap) {
  VmRecord r = reconcile(existing(name));
  // The record goes first: a crash then leaves internal snapshots without a
  // record (named by the next snapshot of that name), never a record that
  // promises snapshots some disk no longer has.
  store_.remove_snapshot(name, snap);
  delete_internal_snapshots(r, snap);
}

void VmManager::delete_internal_snapshots(const VmRecord& r, const std::string& snap) {
  if (r.pid != 0) {
    api::ApiClient api(r.api_socket, std::chrono::minutes(2));
    auto reply = api.call("PUT", "/snapshot/delete", nlohmann::json{{"disk_snapshot_name", snap}});
    // 400: no disk had it any more (deleted by hand, or the disk replaced).
    if (reply.status != 204 && reply.status != 400)
      throw error("snapshot {} of VM {} removed, but its VMM did not delete it from the disks: {}", snap, r.name,
                  reply.message());
    return;
  }
  // A disk that is gone or unreadable must not pin the record forever: it is
  // skipped and named afterwards.
  std::vector<std::string> unopened;
  auto disks = open_disks(r, store_, &unopened);
  for (auto& d : disks) {
    if (auto id = vmm::internal_snapshot_id(*d.q, snap)) {
      d.q->delete_snapshot(*id);
      d.q->flush();
    }
  }
  if (!unopened.empty())
    throw error("snapshot {} of VM {} removed, but not from {} disk(s) that could not be opened: {}", snap, r.name,
                unopened.size(), fmt::join(unopened, "; "));
}

}  // namespace insula::manager
