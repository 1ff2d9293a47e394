// PUT /snapshot/create {snapshot_type, snapshot_path, mem_file_path} and
// PUT /snapshot/load {snapshot_path, mem_backend: {backend_type, backend_path},
// resume_vm}: Firecracker's bodies, full snapshots with a file memory backend.
// insula's additions: disk_snapshot_name (the disks' part of a Full
// snapshot, or a snapshot_type "Disk" snapshot of a running VM's qcow2
// disks alone) and PUT /snapshot/delete {disk_snapshot_name}, since only
// the VMM that has the images open may change them.
#include "api/api_error.h"
#include "api/endpoints.h"
#include "api/json_body.h"
#include "base/error.h"
#include "vmm/disk_snapshots.h"

namespace insula::api {

namespace {
void check_name(const std::string& name) {
  try {
    vmm::check_disk_snapshot_name(name);
  } catch (const Error& e) {
    throw bad_request("disk_snapshot_name: {}", e.what());
  }
}
}  // namespace

void add_snapshot_routes(Router& r, VmmService& vm) {
  r.add("PUT", "/snapshot/create", [&vm](const Request& req) {
    auto o = parse_object(req.body, {"snapshot_type", "snapshot_path", "mem_file_path", "version", "disk_snapshot_name"});
    std::string type = string_field(o, "snapshot_type").value_or("Full");
    if (type != "Full" && type != "Disk")
      throw bad_request("snapshot_type \"{}\" is not supported: Full, or insula's Disk", type);
    if (string_field(o, "version")) throw bad_request("version is not supported: snapshots are written in this VMM's format");
    std::optional<std::string> disk = string_field(o, "disk_snapshot_name");
    if (disk) check_name(*disk);
    if (type == "Disk") {
      if (!disk) throw bad_request("a Disk snapshot needs disk_snapshot_name");
      if (o.contains("snapshot_path") || o.contains("mem_file_path"))
        throw bad_request("a Disk snapshot has no snapshot_path or mem_file_path: it lives in the qcow2 disks");
      vm.snapshot_disks(*disk);
      return Response{204, std::nullopt, {}, {}};
    }
    std::string state = required_string(o, "snapshot_path");
    std::string memory = required_string(o, "mem_file_path");
    if (state.empty() || memory.empty() || state == memory)
      throw bad_request("snapshot_path and mem_file_path must be two different, non-empty paths");
    vm.snapshot_create(state, memory, disk.value_or(""));
    return Response{204, std::nullopt, {}, {}};
  });
  r.add("PUT", "/snapshot/delete", [&vm](const Request& req) {
    auto o = parse_object(req.body, {"disk_snapshot_name"});
    std::string disk = required_string(o, "disk_snapshot_name");
    check_name(disk);
    vm.delete_disk_snapshot(disk);
    return Response{204, std::nullopt, {}, {}};
  });
  r.add("PUT", "/snapshot/load", [&vm](const Request& req) {
    auto o = parse_object(req.body, {"snapshot_path", "mem_backend", "mem_file_path", "resume_vm", "enable_diff_snapshots"});
    std::string state = required_string(o, "snapshot_path");
    std::optional<std::string> memory = string_field(o, "mem_file_path");
    if (o.contains("mem_backend")) {
      if (memory) throw bad_request("give mem_backend or mem_file_path, not both");
      const auto& b = o["mem_backend"];
      if (!b.is_object()) throw bad_request("mem_backend must be an object {{backend_type, backend_path}}");
      for (const auto& [k, v] : b.items())
        if (k != "backend_type" && k != "backend_path") throw bad_request("mem_backend: unknown field \"{}\"", k);
      std::string type = required_string(b, "backend_type");
      if (type != "File") throw bad_request("mem_backend.backend_type \"{}\" is not supported: only File", type);
      memory = required_string(b, "backend_path");
    }
    if (!memory) throw bad_request("mem_backend {{backend_type: File, backend_path}} is required");
    if (bool_field(o, "enable_diff_snapshots").value_or(false))
      throw bad_request("enable_diff_snapshots is not supported: only full snapshots");
    vm.snapshot_load(state, *memory, bool_field(o, "resume_vm").value_or(false));
    return Response{204, std::nullopt, {}, {}};
  });
}

}  // namespace insula::api
