// Machine: one virtual machine built from a MachineConfig — KVM VM, guest RAM,
// interrupt controllers, legacy devices on the I/O buses, the loaded kernel,
// and one thread per vCPU — run until the guest ends it.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "devices/io_bus.h"
#include "devices/legacy/acpi_pm.h"
#include "devices/legacy/serial.h"
#include "kvm/kvm.h"
#include "vmm/guest_ram.h"
#include "vmm/machine_config.h"
#include "vmm/pci_devices.h"
#include "vmm/prepared_vm.h"

namespace insula {
class StateReader;
class StateWriter;
class Rtc;
class I8042;
class FwCfg;
class AcpiPm;
}  // namespace insula

namespace insula::vmm {

class Machine {
 public:
  // Builds the VM and loads the kernel; throws Error on bad config. Guest
  // console output goes to console_out. A PreparedVm made ahead saves the
  // KVM set-up that does not depend on the config; without one it is made here.
  Machine(const MachineConfig& config, std::function<void(uint8_t)> console_out,
          std::unique_ptr<PreparedVm> prepared = nullptr);
  // Rebuilds the machine a snapshot was taken of (machine_snapshot.cc): the
  // config comes from the state file, RAM maps memory_file copy-on-write,
  // and every vCPU and device continues where it was. run() resumes it.
  // Throws Error, before touching anything, on a truncated, corrupted or
  // unknown-version snapshot, or one holding state this build cannot restore.
  static std::unique_ptr<Machine> restore(const std::string& state_file, const std::string& memory_file,
                                          std::function<void(uint8_t)> console_out,
                                          std::unique_ptr<PreparedVm> prepared = nullptr);
  ~Machine();
  Machine(const Machine&) = delete;
  Machine& operator=(const Machine&) = delete;

  // Starts the vCPUs (unless start() did); returns when the guest powers
  // off, resets, writes the debug-exit port, or fails.
  MachineExit run();
  // Only starts the vCPU threads, on the caller's thread: a VMM answering
  // "running" does so once they exist, not once another thread has made them.
  void start();
  // Ends the run from any thread (first caller's reason wins).
  void stop(MachineExit reason);
  // From any thread while run() runs: pause() returns once no vCPU is in the
  // guest (each is parked in its thread); resume() lets them go on.
  // Parks every vCPU, then flushes the writable disks (flush_disks).
  void pause();
  // Flushes every writable disk (BlockDevice::flush: the qcow2 driver's
  // held-back L2 entries, then fdatasync); failures are logged. For a pause,
  // and for an exit that skips the disks' destructors.
  void flush_disks();
  // The virtio-blk and virtio-net counters asked for with INSULA_BLK_STATS /
  // INSULA_NET_STATS, for an exit that skips the devices' destructors.
  void log_device_counters();
  // Logs every virtio device's queues and in-flight work, as both the device
  // and the guest see them (a hang dump; `insula run` on SIGUSR2). Safe from
  // any thread while the machine runs.
  void log_device_state();
  void resume();
  bool paused() const;
  // Asks the guest to shut down the way a host's power button does (ACPI
  // PWRBTN_STS and the SCI); what happens next is the guest's decision.
  void press_power_button();
  // Types Ctrl-Alt-Del on the PS/2 keyboard; false when the guest is not
  // reading its keyboard (the keys would not fit its controller's buffer).
  bool send_ctrl_alt_del();

  // While paused: writes every vCPU's and device's state to state_file and
  // guest RAM to memory_file (each through a temporary file and a rename;
  // the state file last, so its presence means the snapshot is whole).
  // With disk_snapshot set, also takes a qcow2 internal snapshot of that name
  // in every writable disk (disk_snapshots.h) at the same instant, listed in
  // the state file so that restore() reverts the disks too.
  void snapshot(const std::string& state_file, const std::string& memory_file, const std::string& disk_snapshot = {});
  // While paused: the disks alone (a disk-only snapshot of a running VM).
  void snapshot_disks(const std::string& name);
  // At any time: deletes the internal snapshot `name` from every writable
  // disk that has it; returns how many had it.
  size_t delete_disk_snapshot(const std::string& name);
  const MachineConfig& config() const { return config_; }

  Serial& serial() { return *serial_; }
  const GuestMemory& memory() const { return ram_->memory(); }
  // The balloon, when the config asked for one.
  virtio::VirtioBalloon* balloon() { return pci_ ? pci_->balloon() : nullptr; }
  // PATCH /drives and /network-interfaces on a running machine: each changes
  // the device and the machine's config with it, so a snapshot taken later
  // describes the machine as it now is. Throw Error, changing nothing, when
  // the new disk cannot be opened or i is out of range.
  void replace_disk(size_t i, const std::string& path);
  void set_disk_rate_limiter(size_t i, const virtio::RateLimiterConfig& limit);
  void set_net_rate_limiters(size_t i, const std::optional<virtio::RateLimiterConfig>& rx,
                             const std::optional<virtio::RateLimiterConfig>& tx);
  kvm::Backend backend() const { return backend_; }

 private:
  Machine(const MachineConfig& config, std::function<void(uint8_t)> console_out, std::unique_ptr<PreparedVm> prepared,
          const StateReader* state, const std::string& memory_file);
  void setup_devices();
  void save_state(StateWriter& w);
  void restore_state(const StateReader& r);
  void load_kernel();
  uint64_t build_firmware_tables();  // ACPI and MP tables; returns the RSDP address
  void vcpu_loop(kvm::Vcpu& vcpu);
  bool handle_exit(kvm::Vcpu& vcpu);  // false: this vCPU stops
  MachineExit explain_triple_fault(kvm::Vcpu& vcpu);
  MachineExit explain_internal_error(kvm::Vcpu& vcpu);

  MachineConfig config_;
  std::function<void(uint8_t)> console_out_;
  std::unique_ptr<PreparedVm> prepared_;  // owns the KVM fds below: declared first, closed last
  kvm::Backend backend_;
  kvm::Kvm& kvm_;
  kvm::Vm& vm_;
  std::unique_ptr<GuestRam> ram_;
  // Declared before the buses, so destroyed after them: the buses hold the
  // last references to the PCI functions, whose devices (rate limiters, a
  // tap) unregister from PciDevices' event loop as they go.
  std::unique_ptr<PciDevices> pci_;
  IoBus pio_;
  IoBus mmio_;
  std::vector<std::unique_ptr<IrqLine>> irq_lines_;
  std::shared_ptr<Serial> serial_;
  std::shared_ptr<Rtc> rtc_;
  std::shared_ptr<I8042> i8042_;
  std::shared_ptr<FwCfg> fw_cfg_;
  std::shared_ptr<AcpiPm> acpi_pm_;
  std::vector<std::unique_ptr<kvm::Vcpu>> vcpus_;
  std::vector<std::thread> threads_;

  std::mutex exit_mu_;
  std::condition_variable exit_cv_;
  std::optional<MachineExit> exit_;
  std::atomic<bool> stopping_{false};

  // Pausing: vCPU threads park while pause_requested_ is set.
  void park(kvm::Vcpu& vcpu);
  void kick_all();
  mutable std::mutex pause_mu_;
  std::condition_variable pause_cv_;
  std::atomic<bool> pause_requested_{false};
  size_t parked_ = 0;
  size_t started_ = 0;  // vCPU threads run() starts
  size_t exited_ = 0;   // vCPU threads that have returned (they never park)
};

}  // namespace insula::vmm
