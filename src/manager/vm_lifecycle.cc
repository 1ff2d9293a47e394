// VmManager's verbs that drive a VMM: start (spawn, configure over the API,
// InstanceStart), stop, kill, pause, resume.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "api/api_client.h"
#include "base/error.h"
#include "base/fd.h"
#include "base/log.h"
#include "manager/spawn.h"
#include "manager/vm_cgroup.h"
#include "manager/vm_lock.h"
#include "manager/vm_manager.h"
#include "manager/vmm_process_info.h"

namespace insula::manager {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

std::string tail_of(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  std::string s = ss.str();
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  auto nl = s.rfind('\n');
  return nl == std::string::npos ? s : s.substr(nl + 1);
}

// PUT for each device the record holds (the bodies vm create wrote).
void send_devices(const api::ApiClient& api, const std::string& devices) {
  auto j = nlohmann::json::parse(devices, nullptr, false);
  if (j.is_discarded() || !j.is_object()) throw error("the VM's device record is not valid JSON: recreate the VM");
  for (const auto& d : j.value("drives", nlohmann::json::array()))
    api.expect_ok("PUT", "/drives/" + d.value("drive_id", ""), d);
  for (const auto& n : j.value("network-interfaces", nlohmann::json::array()))
    api.expect_ok("PUT", "/network-interfaces/" + n.value("iface_id", ""), n);
  if (j.contains("vsock")) api.expect_ok("PUT", "/vsock", j["vsock"]);
  if (j.contains("balloon")) api.expect_ok("PUT", "/balloon", j["balloon"]);
}

}  // namespace

bool VmManager::wait_gone(const VmRecord& r, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (is_vmm_of(r.pid, r.pid_start, r.name)) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(10ms);
  }
  return true;
}

VmRecord VmManager::start(const std::string& name) {
  VmLock lock(vm_dir(name) + ".lock");
  return launch_locked(name, [this, &name](const api::ApiClient& api) {
    VmRecord r = existing(name);
    nlohmann::json boot{{"kernel_image_path", r.kernel}, {"boot_args", r.cmdline}};
    if (!r.initrd.empty()) boot["initrd_path"] = r.initrd;
    api.expect_ok("PUT", "/boot-source", boot);
    api.expect_ok("PUT", "/machine-config", nlohmann::json{{"vcpu_count", r.cpus}, {"mem_size_mib", r.memory >> 20}});
    send_devices(api, r.devices);
    api.expect_ok("PUT", "/actions", nlohmann::json{{"action_type", "InstanceStart"}});
  });
}

VmRecord VmManager::launch_locked(const std::string& name,
                                  const std::function<void(const api::ApiClient&)>& configure) {
  VmRecord r = reconcile(existing(name));
  check_no_writable_base(r);
  if (r.state == "starting") {
    // Alive but never started, and no other CLI holds the lock: left over by
    // a start that was killed midway. Replace it.
    ::kill(static_cast<pid_t>(r.pid), SIGKILL);
    wait_gone(r, 5s);
    mark_stopped(r);
  }
  if (r.pid != 0) throw error("VM {} is already {} (pid {})", name, r.state, r.pid);
  fs::create_directories(vm_dir(name));
  // Nobody serves them (reconcile would have found the server): sockets left
  // by a killed VMM, which would make the wait below see a socket too early.
  std::error_code ignored;
  fs::remove(r.api_socket, ignored);
  fs::remove(r.console_socket, ignored);
  std::string vmm_err = vm_dir(name) + "/vmm.log";
  // The VMM writes a byte to this pipe once its API listens (EOF: it exited).
  int ready_pipe[2];
  if (::pipe2(ready_pipe, O_CLOEXEC) != 0) throw errno_error("pipe");
  UniqueFd ready_rd(ready_pipe[0]), ready_wr(ready_pipe[1]);
  pid_t pid = spawn_detached({exe_, "vmm", "--api-sock", r.api_socket, "--console-sock", r.console_socket, "--id",
                              name, "--log", r.log_path, "--ready-fd", std::to_string(kPassedFd),
                              "--memory-hint-mib", std::to_string(r.memory >> 20)},
                             vmm_err, ready_wr.get());
  ready_wr.reset();
  // Recorded at once: if this CLI dies now, the next look finds the VMM.
  auto start_time = process_start_time(pid);
  r.pid = pid;
  r.pid_start = start_time.value_or(0);
  r.state = "starting";
  store_.set_runtime(name, r.state, r.pid, r.pid_start);

  auto fail = [&](const std::string& why) -> VmRecord {
    ::kill(pid, SIGKILL);
    wait_gone(r, 2s);
    mark_stopped(r);
    throw error("cannot start VM {}: {}", name, why);
  };
  if (!start_time) fail(fmt::format("its VMM exited at once: {}", tail_of(vmm_err)));
  // Before the guest exists, so all of its memory is charged to the VM's cgroup.
  if (!vm_cgroups_available()) {
    INSULA_LOG_WARN("VM {} runs without resource limits: no cgroup hierarchy with memory or cpu is mounted", name);
  } else {
    try {
      place_in_vm_cgroup(vm_cgroup_path(state_dir_, name), {r.memory, r.cpus}, pid);
    } catch (const Error& e) {
      if (geteuid() == 0) fail(e.what());
      INSULA_LOG_WARN("VM {} runs without resource limits: {}", name, e.what());
    }
  }

  api::ApiClient api(r.api_socket);
  // Woken by the VMM itself: its byte once the API listens, or EOF if it exits first.
  pollfd ready{ready_rd.get(), POLLIN, 0};
  int n;
  do {
    n = ::poll(&ready, 1, 10000);
  } while (n < 0 && errno == EINTR);
  if (n == 0) fail("its VMM did not open its API socket within 10 s");
  char byte = 0;
  if (n < 0 || ::read(ready_rd.get(), &byte, 1) != 1) fail(fmt::format("its VMM exited: {}", tail_of(vmm_err)));
  try {
    configure(api);
  } catch (const Error& e) {
    fail(e.what());
  }
  r.state = "running";
  store_.set_runtime(name, r.state, r.pid, r.pid_start);
  return r;
}

VmManager::StopKind VmManager::stop(const std::string& name, std::chrono::milliseconds timeout, bool force,
                                    StopMethod method) {
  VmLock lock(vm_dir(name) + ".lock");
  VmRecord r = reconcile(existing(name));
  if (r.pid == 0) throw error("VM {} is not running", name);
  return stop_locked(r, timeout, force, method);
}

VmManager::StopKind VmManager::stop_locked(VmRecord& r, std::chrono::milliseconds timeout, bool force,
                                           StopMethod method) {
  StopKind how = StopKind::kGuest;
  bool gone = false;
  if (!force && r.state == "running") {
    const char* action = method == StopMethod::kCtrlAltDel ? "SendCtrlAltDel" : "SendPowerButton";
    try {
      api::ApiClient(r.api_socket, 2s).expect_ok("PUT", "/actions", nlohmann::json{{"action_type", action}});
      gone = wait_gone(r, timeout);
    } catch (const Error&) {
      // Ended or not answering meanwhile: the steps below finish the job.
    }
  }
  if (!gone) {
    how = StopKind::kVmm;
    try {
      api::ApiClient(r.api_socket, 2s).call("PUT", "/shutdown");
    } catch (const Error&) {
      // Not answering: SIGKILL below.
    }
    if (!wait_gone(r, 5s)) {
      how = StopKind::kKilled;
      ::kill(static_cast<pid_t>(r.pid), SIGKILL);
      wait_gone(r, 5s);
    }
  }
  mark_stopped(r);
  return how;
}

VmRecord VmManager::kill(const std::string& name) {
  VmRecord r = reconcile(existing(name));
  if (r.pid == 0) throw error("VM {} is not running", name);
  ::kill(static_cast<pid_t>(r.pid), SIGKILL);
  if (!wait_gone(r, 5s)) throw error("VM {}'s VMM (pid {}) did not die after SIGKILL", name, r.pid);
  mark_stopped(r);
  // Its sockets stay behind after SIGKILL; the next start replaces them.
  return r;
}

VmRecord VmManager::pause(const std::string& name) {
  VmRecord r = reconcile(existing(name));
  if (r.pid == 0) throw error("VM {} is not running", name);
  api::ApiClient(r.api_socket).expect_ok("PATCH", "/vm", nlohmann::json{{"state", "Paused"}});
  return reconcile(r);
}

void VmManager::set_balloon(const std::string& name, uint32_t mib) {
  VmRecord r = reconcile(existing(name));
  if (r.pid == 0) throw error("VM {} is not running", name);
  api::ApiClient(r.api_socket).expect_ok("PATCH", "/balloon", nlohmann::json{{"amount_mib", mib}});
}

nlohmann::json VmManager::balloon_stats(const std::string& name) {
  VmRecord r = reconcile(existing(name));
  if (r.pid == 0) throw error("VM {} is not running", name);
  return api::ApiClient(r.api_socket).expect_ok("GET", "/balloon/statistics").body;
}

VmRecord VmManager::resume(const std::string& name) {
  VmRecord r = reconcile(existing(name));
  if (r.pid == 0) throw error("VM {} is not running", name);
  api::ApiClient(r.api_socket).expect_ok("PATCH", "/vm", nlohmann::json{{"state", "Resumed"}});
  return reconcile(r);
}

}  // namespace insula::manager
