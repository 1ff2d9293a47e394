// The disk part of snapshots: see disk_snapshots.h.
#include "vmm/disk_snapshots.h"

#include <optional>

#include "base/error.h"
#include "base/log.h"
#include "base/state_file.h"
#include "block/qcow2.h"
#include "vmm/machine_config_json.h"
#include "vmm/machine_state.h"

namespace insula::vmm {

namespace {

block::Qcow2Image& as_qcow2(block::BlockDevice& dev, const std::string& path) {
  auto* q = dynamic_cast<block::Qcow2Image*>(&dev);
  if (!q)
    throw error("disk {} is a {} image: a snapshot that includes the disks needs qcow2 (internal snapshots). Convert "
                "it (insula img convert -O qcow2 {} NEW.qcow2) and give the VM that disk, or attach it read-only",
                path, dev.format(), path);
  return *q;
}

}  // namespace

std::optional<std::string> internal_snapshot_id(block::Qcow2Image& q, const std::string& name) {
  for (const auto& s : q.snapshots())
    if (s.name == name) return s.id;
  return std::nullopt;
}

bool has_internal_snapshot(const std::string& path, const std::string& name) {
  block::OpenOptions o;
  o.read_only = true;
  o.ignore_backing = true;
  auto dev = block::open_image(path, o);
  auto* q = dynamic_cast<block::Qcow2Image*>(dev.get());
  return q && internal_snapshot_id(*q, name);
}

void check_disk_snapshot_name(const std::string& name) {
  bool ok = !name.empty() && name.size() <= 64 && name[0] != '.' && name[0] != '-';
  for (char c : name)
    ok = ok && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.');
  if (!ok)
    throw error("invalid disk snapshot name \"{}\": use 1-64 letters, digits, '-', '_' or '.', not starting with '.' or '-'",
                name);
}

std::vector<DiskSnapshotRef> create_disk_snapshots(const std::vector<OpenDisk>& disks, const std::string& name) {
  check_disk_snapshot_name(name);
  std::vector<std::pair<const OpenDisk*, block::Qcow2Image*>> writable;
  for (const auto& d : disks) {
    if (d.read_only) continue;  // the guest cannot change it
    auto& q = as_qcow2(*d.dev, d.path);
    if (internal_snapshot_id(q, name))
      throw error("disk {} already has an internal snapshot named {} (left by a killed snapshot, or made with insula "
                  "img snapshot while the VM was stopped): choose another name, or delete it while the VM is stopped "
                  "(insula img snapshot -d {} {})",
                  d.path, name, name, d.path);
    writable.emplace_back(&d, &q);
  }
  std::vector<DiskSnapshotRef> made;
  try {
    for (auto& [d, q] : writable) {
      q->flush();  // every completed guest write is in the snapshot, durably
      q->create_snapshot(name);
      q->flush();
      made.push_back({static_cast<uint32_t>(d->index), name});
    }
  } catch (...) {
    for (size_t i = 0; i < made.size(); ++i) {
      try {
        if (auto id = internal_snapshot_id(*writable[i].second, name)) writable[i].second->delete_snapshot(*id);
        writable[i].second->flush();
      } catch (const std::exception& e) {
        INSULA_LOG_WARN("disk {}: could not delete the half-made snapshot {}: {}", writable[i].first->path, name, e.what());
      }
    }
    throw;
  }
  return made;
}

size_t delete_disk_snapshots(const std::vector<OpenDisk>& disks, const std::string& name) {
  size_t n = 0;
  for (const auto& d : disks) {
    if (d.read_only) continue;
    auto* q = dynamic_cast<block::Qcow2Image*>(d.dev.get());
    if (!q) continue;
    if (auto id = internal_snapshot_id(*q, name)) {
      q->delete_snapshot(*id);
      q->flush();
      ++n;
    }
  }
  return n;
}

void save_disk_snapshots(StateWriter& w, const std::vector<DiskSnapshotRef>& refs) {
  StateEncoder e;
  e.put<uint64_t>(refs.size());
  for (const auto& r : refs) {
    e.put(r.disk);
    e.put_vector(std::vector<uint8_t>(r.name.begin(), r.name.end()));
  }
  w.add(section::kDiskSnapshots, kDiskSnapshotsVersion, e.bytes());
}

std::vector<DiskPart> disk_part(const MachineConfig& config, const StateReader& r) {
  std::vector<DiskPart> part;
  if (!r.has(section::kDiskSnapshots)) return part;
  StateDecoder d(r.get(section::kDiskSnapshots, kDiskSnapshotsVersion).data, r.what() + ": " + section::kDiskSnapshots);
  auto n = d.get<uint64_t>();
  for (uint64_t i = 0; i < n; ++i) {
    auto disk = d.get<uint32_t>();
    auto name = d.get_vector<uint8_t>();
    if (disk >= config.disks.size())
      throw error("{}: the disk part names disk {} of a machine with {} disks: it is corrupt", r.what(), disk,
                  config.disks.size());
    part.push_back({config.disks[disk].path, config.disks[disk].format, std::string(name.begin(), name.end())});
  }
  d.finish();
  return part;
}

std::vector<DiskPart> disk_part(const StateReader& r) {
  const StateSection& cfg = r.get(section::kConfig, kConfigVersion);
  return disk_part(config_from_json(std::string(cfg.data.begin(), cfg.data.end())), r);
}

void check_disk_part(const std::vector<DiskPart>& part, bool revert) {
  struct Found {
    std::unique_ptr<block::BlockDevice> dev;
    block::Qcow2Image* q;
    std::string id;
  };
  std::vector<Found> found;
  for (const auto& p : part) {
    block::OpenOptions o;
    o.format = p.format;
    o.read_only = !revert;
    o.ignore_backing = true;  // internal snapshots live in this file alone
    Found f;
    try {
      f.dev = block::open_image(p.path, o);
    } catch (const Error& e) {
      throw error("the snapshot's disk part cannot be checked: {}", e.what());
    }
    f.q = &as_qcow2(*f.dev, p.path);
    auto id = internal_snapshot_id(*f.q, p.name);
    if (!id)
      throw error("disk {} has no internal snapshot named {} (deleted with qemu-img or insula img, or the disk was "
                  "replaced): the snapshot's disk part is missing, so nothing was restored",
                  p.path, p.name);
    f.id = *id;
    found.push_back(std::move(f));
  }
  if (!revert) return;
  for (size_t i = 0; i < found.size(); ++i) {
    try {
      found[i].q->apply_snapshot(found[i].id);
      found[i].q->flush();
    } catch (const Error& e) {
      throw error("reverting the disks: {} of {} reverted, then disk {} failed: {}", i, found.size(), part[i].path,
                  e.what());
    }
  }
}

}  // namespace insula::vmm
