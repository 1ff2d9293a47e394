// VmmService: see vmm_service.h.
#include "api/vmm_service.h"

#include <future>

#include <boost/asio/post.hpp>

#include "api/api_error.h"
#include "base/log.h"
#include "base/timing.h"

namespace insula::api {

const char* state_name(VmState s) {
  switch (s) {
    case VmState::kNotStarted: return "Not started";
    case VmState::kRunning: return "Running";
    case VmState::kPaused: return "Paused";
  }
  return "Unknown";
}

VmmService::VmmService(boost::asio::io_context& io, std::string id, ConsoleHub& console,
                       std::function<void()> on_end, uint64_t memory_hint)
    : io_(io),
      id_(std::move(id)),
      console_(console),
      on_end_(std::move(on_end)),
      prepared_(std::async(std::launch::async,
                           [memory_hint] { return std::make_unique<vmm::PreparedVm>(memory_hint); })) {}

std::unique_ptr<vmm::PreparedVm> VmmService::take_prepared_vm() {
  // Its error (no /dev/kvm, ...) is the request's, as the machine's own would be.
  if (!prepared_.valid()) return nullptr;  // taken by an earlier attempt: the machine makes its own
  return prepared_.get();
}

VmmService::~VmmService() {
  if (machine_) machine_->stop({vmm::MachineExit::Kind::kPowerOff, 0, "the VMM is exiting"});
  if (runner_.joinable()) runner_.join();
  console_.set_serial(nullptr);
}

void VmmService::require_not_started(const char* what) const {
  if (state_ != VmState::kNotStarted) throw conflict("{} cannot change once the VM has started", what);
}

void VmmService::start() {
  if (ending_) throw conflict("the VMM is shutting down");
  if (state_ != VmState::kNotStarted) throw conflict("the VM has already been started");
  if (!boot_source_set_) throw bad_request("set a boot source (PUT /boot-source) before InstanceStart");
  // The balloon's size was checked against the memory of its day; the
  // machine config may have shrunk since.
  if (config_.balloon && (uint64_t(config_.balloon->amount_mib) << 20) > config_.memory)
    throw bad_request("the balloon ({} MiB) is larger than the guest's memory ({} MiB): PATCH /balloon first",
                      config_.balloon->amount_mib, config_.memory >> 20);
  // As Firecracker: a root drive is /dev/vda (drives[0]) unless boot_args say otherwise.
  vmm::MachineConfig config = config_;
  if (device_ids_.has_root && config.cmdline.find("root=") == std::string::npos)
    config.cmdline += fmt::format("{}root=/dev/vda {}", config.cmdline.empty() ? "" : " ",
                                  config.disks.front().read_only ? "ro" : "rw");
  // Building the machine checks the config and loads the kernel: its errors are the caller's.
  machine_ = std::make_unique<vmm::Machine>(config, [this](uint8_t b) { console_.guest_output(b); }, take_prepared_vm());
  launch();
}

void VmmService::launch() {
  console_.set_serial(&machine_->serial());
  state_ = VmState::kRunning;
  started_ = std::chrono::steady_clock::now();
  machine_->start();
  runner_ = std::thread([this] {
    vmm::MachineExit exit = machine_->run();
    // The process may end without destroying the machine: what the guest
    // wrote without flushing (qcow2 holds fresh L2 entries back) goes to
    // the files now.
    machine_->flush_disks();
    machine_done_ = true;
    boost::asio::post(io_, [this, exit] { machine_ended(exit); });
  });
}

void VmmService::snapshot_create(const std::string& state_file, const std::string& memory_file,
                                 const std::string& disk_snapshot) {
  if (state_ == VmState::kNotStarted) throw conflict("the VM is not started: there is nothing to snapshot");
  if (machine_done_ || ending_) throw conflict("the VM has ended");
  if (state_ != VmState::kPaused) throw conflict("the VM must be paused to snapshot it: PATCH /vm {{\"state\": \"Paused\"}} first");
  machine_->snapshot(state_file, memory_file, disk_snapshot);
}

void VmmService::snapshot_disks(const std::string& name) {
  if (state_ == VmState::kNotStarted)
    throw conflict("the VM is not started: its disks are not open here, snapshot them with insula img snapshot");
  if (machine_done_ || ending_) throw conflict("the VM has ended");
  bool was_running = state_ == VmState::kRunning;
  if (was_running) machine_->pause();
  try {
    machine_->snapshot_disks(name);
  } catch (...) {
    if (was_running) machine_->resume();
    throw;
  }
  if (was_running) machine_->resume();
}

void VmmService::delete_disk_snapshot(const std::string& name) {
  if (state_ == VmState::kNotStarted)
    throw conflict("the VM is not started: its disks are not open here, use insula img snapshot -d");
  if (machine_done_ || ending_) throw conflict("the VM has ended");
  if (machine_->delete_disk_snapshot(name) == 0) throw bad_request("no writable disk has a snapshot named {}", name);
}

void VmmService::snapshot_load(const std::string& state_file, const std::string& memory_file, bool resume) {
  if (ending_) throw conflict("the VMM is shutting down");
  if (state_ != VmState::kNotStarted) throw conflict("a snapshot can only be loaded before the VM starts");
  timing::mark("snapshot/load: request");
  machine_ = vmm::Machine::restore(state_file, memory_file, [this](uint8_t b) { console_.guest_output(b); },
                                   take_prepared_vm());
  config_ = machine_->config();
  boot_source_set_ = true;
  if (!resume) machine_->pause();  // the vCPUs park as soon as their threads start
  launch();
  if (!resume) state_ = VmState::kPaused;
  timing::mark("snapshot/load: vCPU threads started, responding");
}

vmm::Machine* VmmService::running_machine() {
  if (state_ == VmState::kNotStarted || machine_done_ || ending_) return nullptr;
  return machine_.get();
}

void VmmService::machine_ended(vmm::MachineExit exit) {
  if (runner_.joinable()) runner_.join();
  console_.set_serial(nullptr);
  exit_ = exit;
  INSULA_LOG_INFO("VM {} ended: {}", id_, exit.message);
  if (!ending_) {
    ending_ = true;
    on_end_();
  }
}

void VmmService::pause() {
  if (state_ == VmState::kNotStarted) throw conflict("the VM is not started: nothing to pause");
  if (machine_done_ || ending_) throw conflict("the VM has ended");
  if (state_ == VmState::kPaused) return;  // as Firecracker: pausing a paused VM is fine
  machine_->pause();
  state_ = VmState::kPaused;
  console_.flush();  // the parked vCPUs wrote their last bytes: the log has them when this returns
}

void VmmService::resume() {
  if (state_ == VmState::kNotStarted) throw conflict("the VM is not started: nothing to resume");
  if (machine_done_ || ending_) throw conflict("the VM has ended");
  if (state_ == VmState::kRunning) return;
  machine_->resume();
  state_ = VmState::kRunning;
}

void VmmService::press_power_button() {
  if (state_ == VmState::kNotStarted) throw conflict("the VM is not started");
  if (machine_done_ || ending_) throw conflict("the VM has ended");
  // A paused guest cannot see the event; pressing anyway would look like it was ignored.
  if (state_ == VmState::kPaused) throw conflict("the VM is paused: resume it (PATCH /vm) before pressing the power button");
  machine_->press_power_button();
}

void VmmService::send_ctrl_alt_del() {
  if (state_ == VmState::kNotStarted) throw conflict("the VM is not started");
  if (machine_done_ || ending_) throw conflict("the VM has ended");
  if (state_ == VmState::kPaused) throw conflict("the VM is paused: resume it (PATCH /vm) before sending Ctrl-Alt-Del");
  if (!machine_->send_ctrl_alt_del())
    throw conflict("the guest is not reading its keyboard (its i8042 buffer is full): try SendPowerButton");
}

void VmmService::shutdown() {
  if (ending_) return;
  if (machine_ && !exit_) {
    // The machine's thread reports the end; machine_ended() then ends the VMM.
    machine_->stop({vmm::MachineExit::Kind::kPowerOff, 0, "shut down over the API"});
    return;
  }
  ending_ = true;
  on_end_();
}

std::chrono::steady_clock::duration VmmService::vmm_uptime() const { return std::chrono::steady_clock::now() - created_; }

std::optional<std::chrono::steady_clock::duration> VmmService::guest_uptime() const {
  if (!started_) return std::nullopt;
  return std::chrono::steady_clock::now() - *started_;
}

}  // namespace insula::api
