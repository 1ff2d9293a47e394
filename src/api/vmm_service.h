// VmmService: the one VM a VMM process serves, and its lifecycle as the API
// sees it: configure (boot source, machine config) while "Not started",
// InstanceStart builds the Machine and runs it on its own thread, then
// Paused/Resumed, and shutdown. Every method runs on the io_context's thread;
// the machine's thread only reports its end back to it.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "api/console_hub.h"
#include "vmm/machine.h"

namespace insula::api {

// The API's names for the configured devices, in the order of
// config().disks and config().nets (the root drive first, as Firecracker).
struct DeviceIds {
  std::vector<std::string> drives;
  std::vector<std::string> ifaces;
  bool has_root = false;  // drives[0] is the root device
};

enum class VmState { kNotStarted, kRunning, kPaused };
const char* state_name(VmState s);

class VmmService {
 public:
  // on_end runs (on the io thread) when the VM is over: the guest ended it or
  // shutdown() was asked for.
  // memory_hint: bytes of RAM the VM will likely have (0: unknown), for the
  // KVM set-up made ahead (vmm/prepared_vm.h).
  VmmService(boost::asio::io_context& io, std::string id, ConsoleHub& console, std::function<void()> on_end,
             uint64_t memory_hint = 0);
  ~VmmService();  // stops and joins a running machine

  const std::string& id() const { return id_; }
  VmState state() const { return state_; }

  vmm::MachineConfig& config() { return config_; }  // edits: only while not started
  bool boot_source_set() const { return boot_source_set_; }
  void mark_boot_source_set() { boot_source_set_ = true; }
  void require_not_started(const char* what) const;
  DeviceIds& device_ids() { return device_ids_; }  // edits: only while not started
  // The machine while it runs or is paused; null before start and once it ended.
  vmm::Machine* running_machine();

  void start();
  void pause();
  void resume();
  // The ACPI power button: an orderly shutdown request the guest may honour.
  void press_power_button();
  // Ctrl-Alt-Del on the PS/2 keyboard (Firecracker's SendCtrlAltDel).
  void send_ctrl_alt_del();
  void shutdown();
  // PUT /snapshot/create: the VM must be paused (409 otherwise).
  // disk_snapshot (insula's): also a qcow2 internal snapshot of that name in
  // every writable disk, restored with the snapshot.
  void snapshot_create(const std::string& state_file, const std::string& memory_file,
                       const std::string& disk_snapshot = {});
  // snapshot_type "Disk" (insula's): a running VM is paused for it (disks
  // flushed, in-flight requests drained) and resumed after.
  void snapshot_disks(const std::string& name);
  // PUT /snapshot/delete: the internal snapshot `name` from every writable
  // disk; 400 when none has it.
  void delete_disk_snapshot(const std::string& name);
  // PUT /snapshot/load: only before InstanceStart; the loaded VM runs when
  // resume is set, else it is Paused.
  void snapshot_load(const std::string& state_file, const std::string& memory_file, bool resume);

  std::chrono::steady_clock::duration vmm_uptime() const;
  std::optional<std::chrono::steady_clock::duration> guest_uptime() const;
  const std::optional<vmm::MachineExit>& last_exit() const { return exit_; }

 private:
  void machine_ended(vmm::MachineExit exit);
  void launch();  // runs machine_ on runner_
  std::unique_ptr<vmm::PreparedVm> take_prepared_vm();

  boost::asio::io_context& io_;
  std::string id_;
  ConsoleHub& console_;
  std::function<void()> on_end_;
  vmm::MachineConfig config_;
  bool boot_source_set_ = false;
  DeviceIds device_ids_;
  VmState state_ = VmState::kNotStarted;
  // The KVM set-up no config decides, made on a thread while the VMM waits
  // for its first requests (see vmm/prepared_vm.h); the machine takes it.
  std::future<std::unique_ptr<vmm::PreparedVm>> prepared_;
  std::unique_ptr<vmm::Machine> machine_;
  std::thread runner_;
  std::optional<vmm::MachineExit> exit_;
  std::chrono::steady_clock::time_point created_ = std::chrono::steady_clock::now();
  std::optional<std::chrono::steady_clock::time_point> started_;
  bool ending_ = false;
  // Set by the machine's thread when run() returns, before machine_ended()
  // reaches the io thread: requests in between must not touch the machine.
  std::atomic<bool> machine_done_{false};
};

}  // namespace insula::api
