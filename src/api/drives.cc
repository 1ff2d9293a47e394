// PUT /drives/{drive_id}: add or replace a virtio-blk disk before
// InstanceStart (Firecracker's body). At most one root device; it becomes
// /dev/vda and, unless boot_args name a root, "root=/dev/vda ro|rw".
// PATCH /drives/{drive_id}: on a started VM, a new path_on_host (the guest
// sees the new capacity) and/or a new rate_limiter, as Firecracker.
#include <algorithm>

#include "api/api_error.h"
#include "api/device_bodies.h"
#include "api/endpoints.h"
#include "base/error.h"

namespace insula::api {

void add_drives_routes(Router& r, VmmService& vm) {
  r.add("PUT", "/drives/{drive_id}", [&vm](const Request& req) {
    vm.require_not_started("drives");
    DriveBody d = parse_drive_body(req.body, path_id(req));
    // Every check before any change: a refused request changes nothing.
    auto ids = vm.device_ids();
    auto disks = vm.config().disks;
    for (size_t i = 0; i < ids.drives.size(); ++i) {
      if (ids.drives[i] != d.drive_id) continue;
      ids.drives.erase(ids.drives.begin() + static_cast<long>(i));
      disks.erase(disks.begin() + static_cast<long>(i));
      if (i == 0) ids.has_root = false;
      break;
    }
    if (d.is_root_device && ids.has_root)
      throw bad_request("drive {} is already the root device: only one drive can be", ids.drives.front());
    if (ids.drives.size() >= kMaxDrives) throw bad_request("at most {} drives", kMaxDrives);
    if (d.is_root_device) {
      ids.drives.insert(ids.drives.begin(), d.drive_id);
      disks.insert(disks.begin(), d.disk);
      ids.has_root = true;
    } else {
      ids.drives.push_back(d.drive_id);
      disks.push_back(d.disk);
    }
    vm.device_ids() = std::move(ids);
    vm.config().disks = std::move(disks);
    return Response{204, std::nullopt, {}, {}};
  });

  r.add("PATCH", "/drives/{drive_id}", [&vm](const Request& req) {
    std::string id = path_id(req);
    DrivePatch p = parse_drive_patch(req.body, id);
    const auto& ids = vm.device_ids().drives;
    auto it = std::find(ids.begin(), ids.end(), id);
    if (it == ids.end()) throw bad_request("there is no drive \"{}\": PUT /drives/{} adds one before InstanceStart", id, id);
    size_t i = static_cast<size_t>(it - ids.begin());
    vmm::Machine* m = vm.running_machine();
    if (!m) throw conflict("PATCH /drives changes the drive of a started VM: before InstanceStart use PUT /drives/{}", id);
    vmm::DiskConfig& disk = vm.config().disks[i];
    if (p.path) {
      try {
        m->replace_disk(i, *p.path);
      } catch (const Error& e) {
        throw bad_request("drive {}: {}", id, e.what());
      }
      disk.path = *p.path;
    }
    if (p.rate_limiter) {
      m->set_disk_rate_limiter(i, *p.rate_limiter);
      disk.rate_limiter = *p.rate_limiter;
    }
    return Response{204, std::nullopt, {}, {}};
  });
}

}  // namespace insula::api
