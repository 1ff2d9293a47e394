// VmManager: create, list, info, remove and the reconciliation. The verbs
// that talk to a VMM are in vm_lifecycle.cc.
#include "manager/vm_manager.h"

#include <filesystem>

#include "api/api_client.h"
#include "api/device_bodies.h"
#include "base/error.h"
#include "manager/vm_cgroup.h"
#include "manager/vm_disks.h"
#include "manager/vm_lock.h"
#include "manager/vmm_process_info.h"
#include "vmm/device_options.h"

namespace insula::manager {

namespace fs = std::filesystem;

void check_vm_name(const std::string& name) {
  bool ok = !name.empty() && name.size() <= 48 && name[0] != '.' && name[0] != '-';
  for (char c : name) ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.');
  if (!ok) throw error("invalid VM name \"{}\": use 1-48 letters, digits, '-', '_' or '.', not starting with '.' or '-'", name);
}

// The API bodies `start` sends for the spec's devices; paths are stored
// absolute (the VMM does not run in the CLI's directory) and checked now,
// so a typo fails at create, not at the first start.
nlohmann::json device_bodies(const VmSpec& spec, size_t first_drive) {
  nlohmann::json j = nlohmann::json::object();
  auto& drives = j["drives"] = nlohmann::json::array();
  for (size_t i = 0; i < spec.disks.size(); ++i) {
    vmm::DiskConfig d = spec.disks[i];
    if (!fs::exists(d.path)) throw error("--disk {}: no such file", d.path);
    d.path = fs::absolute(d.path).string();
    drives.push_back(api::drive_body({fmt::format("disk{}", first_drive + i), spec.root_disk == i, d}));
  }
  auto& nets = j["network-interfaces"] = nlohmann::json::array();
  for (size_t i = 0; i < spec.nets.size(); ++i) nets.push_back(api::net_body({fmt::format("net{}", i), spec.nets[i]}));
  if (spec.vsock) {
    vmm::VsockConfig v = *spec.vsock;
    v.uds_path = fs::absolute(v.uds_path).string();
    vmm::check_vsock(v);
    j["vsock"] = api::vsock_body(v);
  }
  if (spec.balloon) {
    if (uint64_t(spec.balloon->amount_mib) << 20 > spec.memory)
      throw error("--balloon {} MiB is more than the VM's memory", spec.balloon->amount_mib);
    j["balloon"] = api::balloon_body(*spec.balloon);
  }
  return j;
}

VmManager::VmManager(std::string state_dir, std::string insula_exe)
    : state_dir_(std::move(state_dir)), exe_(std::move(insula_exe)), store_(state_dir_) {
  fs::create_directories(state_dir_ + "/vms");
}

std::string VmManager::vm_dir(const std::string& name) const { return state_dir_ + "/vms/" + name; }

VmRecord VmManager::create(const VmSpec& spec) {
  check_vm_name(spec.name);
  VmLock lock(vm_dir(spec.name) + ".lock");
  if (spec.kernel.empty()) throw error("--kernel is required");
  if (spec.cpus < 1 || spec.cpus > 32) throw error("--cpus {} is out of range: 1 to 32", spec.cpus);
  if (spec.memory < (1 << 20)) throw error("--memory must be at least 1 MiB");
  VmRecord r;
  r.name = spec.name;
  // Stored absolute: the VMM does not run in the CLI's directory.
  r.kernel = fs::absolute(spec.kernel).string();
  r.initrd = spec.initrd.empty() ? "" : fs::absolute(spec.initrd).string();
  r.cmdline = spec.cmdline;
  r.cpus = spec.cpus;
  r.memory = spec.memory;
  auto devices = device_bodies(spec);
  std::string dir = vm_dir(spec.name);
  if (!spec.blank_disks.empty()) add_blank_disks(devices, new_vm_dir(spec.name), spec.blank_disks);
  r.devices = devices.dump();
  r.api_socket = dir + "/api.sock";
  r.console_socket = dir + "/console.sock";
  r.log_path = dir + "/console.log";
  store_.insert(r);
  fs::create_directories(dir);
  return r;
}

VmRecord VmManager::existing(const std::string& name) {
  auto r = store_.get(name);
  if (!r) throw error("no VM named {} (see insula vm list)", name);
  return *r;
}

void VmManager::mark_stopped(VmRecord& r) {
  remove_vm_cgroup(vm_cgroup_path(state_dir_, r.name));
  r.state = "stopped";
  r.pid = 0;
  r.pid_start = 0;
  store_.set_runtime(r.name, r.state, 0, 0);
}

VmRecord VmManager::reconcile(VmRecord r) {
  if (r.pid == 0) {
    // A CLI killed between spawning a VMM and recording it leaves a VMM the
    // record does not know: find it by its socket and adopt it.
    if (auto pid = socket_server_pid(r.api_socket)) {
      auto start = process_start_time(*pid);
      if (start && is_vmm_of(*pid, *start, r.name)) {
        r.pid = *pid;
        r.pid_start = *start;
        store_.set_runtime(r.name, r.state, r.pid, r.pid_start);
      }
    }
  }
  if (r.pid == 0) {
    if (r.state != "stopped") mark_stopped(r);
    return r;
  }
  if (!is_vmm_of(r.pid, r.pid_start, r.name)) {
    mark_stopped(r);  // the VMM died (or the pid now belongs to someone else)
    return r;
  }
  std::string live = r.state;
  try {
    auto reply = api::ApiClient(r.api_socket, std::chrono::seconds(2)).call("GET", "/");
    std::string s = reply.status == 200 ? reply.body.value("state", "") : "";
    if (s == "Running") live = "running";
    else if (s == "Paused") live = "paused";
    else if (s == "Not started") live = "starting";
  } catch (const Error&) {
    live = "unresponsive";  // alive but not answering: shown as such, not guessed
  }
  if (live != r.state) {
    r.state = live;
    store_.set_runtime(r.name, r.state, r.pid, r.pid_start);
  }
  return r;
}

VmRecord VmManager::info(const std::string& name) { return reconcile(existing(name)); }

std::vector<VmRecord> VmManager::list() {
  std::vector<VmRecord> out;
  for (auto& r : store_.list()) out.push_back(reconcile(std::move(r)));
  return out;
}

void VmManager::remove(const std::string& name, bool force) {
  VmLock lock(vm_dir(name) + ".lock");
  VmRecord r = reconcile(existing(name));
  if (auto clones = store_.bases_owned_by("vm", name); !clones.empty())
    throw error("VM {} is the base of clone {}: remove the clones first (their disks are overlays over its disks)",
                name, clones.front().vm);
  if (r.pid != 0) {
    if (!force) throw error("VM {} is {}: stop it first, or use rm --force", name, r.state);
    kill(name);
  }
  store_.remove(name);
  std::error_code ec;
  fs::remove_all(vm_dir(name), ec);
  fs::remove(vm_dir(name) + ".lock", ec);
}

}  // namespace insula::manager
