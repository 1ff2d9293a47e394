// `insula run`: boot a kernel on KVM with the serial console on the terminal.
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <mutex>
#include <thread>

#include <optional>
#include <string>
#include <vector>

#include "base/error.h"
#include "base/size.h"
#include "cli/commands.h"
#include "cli/default_guest.h"
#include "cli/terminal.h"
#include "vmm/console.h"
#include "vmm/device_options.h"
#include "vmm/fast_exit.h"
#include "vmm/machine.h"

namespace insula::cli {

namespace {

struct RunOptions {
  vmm::MachineConfig machine;
  std::string memory = "256M";
  bool reboot = false;
  std::vector<std::string> disks, nets;
  std::string vsock, console = "serial";
  bool no_rng = false;
  bool balloon = false;
};

void write_console(uint8_t byte) {
  while (::write(STDOUT_FILENO, &byte, 1) < 0 && errno == EINTR) {
  }
}

// Turns SIGTERM, SIGHUP and SIGINT into an orderly stop of the current
// machine, so the terminal is restored and the exit status says why.
// SIGUSR2 logs the machine's device state (queues, in-flight requests,
// interrupts held or pending) and lets it run on: what to look at when a
// guest hangs on a device. (Not SIGUSR1: the machine kicks its vCPU threads
// with it, so it must stay unblocked.)
class StopOnSignals {
 public:
  StopOnSignals() {
    sigemptyset(&set_);
    for (int s : {SIGTERM, SIGHUP, SIGINT, SIGUSR2}) sigaddset(&set_, s);
    // Blocked here, before any other thread exists, so every thread inherits it.
    pthread_sigmask(SIG_BLOCK, &set_, nullptr);
    thread_ = std::thread([this] {
      int sig = 0;
      while (sigwait(&set_, &sig) == 0) {
        std::lock_guard lock(mu_);
        if (done_) return;
        if (sig == SIGUSR2) {
          if (machine_) machine_->log_device_state();
          continue;
        }
        // Kept even when a machine takes it: one already stopping for another
        // reason (a reset with --reboot) ignores it, and the run must still end.
        pending_ = sig;
        if (machine_) machine_->stop({vmm::MachineExit::Kind::kSignal, static_cast<uint32_t>(sig), {}});
      }
    });
  }
  ~StopOnSignals() {
    {
      std::lock_guard lock(mu_);
      done_ = true;
    }
    pthread_kill(thread_.native_handle(), SIGTERM);
    thread_.join();
  }
  int pending() {
    std::lock_guard lock(mu_);
    return pending_;
  }
  void attach(vmm::Machine* m) {
    std::lock_guard lock(mu_);
    machine_ = m;
    if (m && pending_) m->stop({vmm::MachineExit::Kind::kSignal, static_cast<uint32_t>(pending_), {}});
  }

 private:
  sigset_t set_;
  std::thread thread_;
  std::mutex mu_;
  vmm::Machine* machine_ = nullptr;
  int pending_ = 0;
  bool done_ = false;
};

int run_vm(RunOptions& opts, const Context& ctx) {
  opts.machine.memory = parse_size(opts.memory, 1 << 20);
  opts.machine.debug = ctx.debug;
  opts.machine.rng = !opts.no_rng;
  opts.machine.virtio_console = opts.console == "hvc";
  for (const auto& d : opts.disks) opts.machine.disks.push_back(vmm::parse_disk(d));
  for (const auto& n : opts.nets) opts.machine.nets.push_back(vmm::parse_net(n));
  if (!opts.vsock.empty()) opts.machine.vsock = vmm::parse_vsock(opts.vsock);
  if (opts.balloon) opts.machine.balloon = vmm::BalloonConfig{0, true, 0};
  std::optional<DefaultGuest> guest;
  if (opts.machine.kernel.empty()) {
    guest.emplace(choose_default_guest());
    opts.machine.kernel = guest->kernel;
    if (opts.machine.initrd.empty()) opts.machine.initrd = guest->initrd;
    if (opts.machine.cmdline.empty()) opts.machine.cmdline = guest->cmdline;
    if (!guest->notice.empty()) fmt::print(stderr, "insula: {}\n", guest->notice);
  }

  StopOnSignals signals;
  RawTerminal terminal(STDIN_FILENO);
  while (true) {
    vmm::Machine machine(opts.machine, write_console);
    signals.attach(&machine);
    vmm::MachineExit exit;
    {
      // With --console hvc the virtio console reads stdin itself.
      std::optional<vmm::ConsolePump> pump;
      if (!opts.machine.virtio_console)
        pump.emplace(STDIN_FILENO, machine.serial(), terminal.active(),
                     [&machine] { machine.stop({vmm::MachineExit::Kind::kPowerOff, 0, "quit from the console"}); });
      exit = machine.run();
    }
    signals.attach(nullptr);
    if (int sig = signals.pending(); sig && exit.kind != vmm::MachineExit::Kind::kSignal)
      exit = {vmm::MachineExit::Kind::kSignal, static_cast<uint32_t>(sig), {}};
    bool is_reset = exit.kind == vmm::MachineExit::Kind::kReset || exit.kind == vmm::MachineExit::Kind::kTripleFault;
    if (is_reset && opts.reboot) {
      if (!exit.message.empty()) fmt::print(stderr, "\r\ninsula: {}; rebooting\r\n", exit.message);
      continue;
    }
    terminal.restore();
    // The exit below runs no destructors: the disks are flushed here (what a
    // guest wrote without flushing would otherwise be lost with the process).
    machine.flush_disks();
    machine.log_device_counters();
    if (exit.kind == vmm::MachineExit::Kind::kError) fmt::print(stderr, "\ninsula: error: {}\n", exit.message);
    // A triple fault is the guest's crash: said always, like an error.
    else if (!exit.message.empty() && (ctx.debug || exit.kind == vmm::MachineExit::Kind::kTripleFault))
      fmt::print(stderr, "\ninsula: {}\n", exit.message);
    // The run is over: leave KVM's slow VM teardown to a child process.
    vmm::exit_leaving_teardown_to_child(vmm::exit_status(exit));
  }
}

}  // namespace

void add_run_command(CLI::App& app, Context& ctx) {
  auto opts = std::make_shared<RunOptions>();
  auto* cmd = app.add_subcommand("run", "boot a kernel in a virtual machine, console on this terminal");
  cmd->footer(
      "Kernels: Linux bzImage, ELF vmlinux with a PVH note, multiboot v1. Without --kernel, the default guest boots.\n"
      "Console: stdin goes to the guest's COM1, its output to stdout; on a terminal, Ctrl-A x quits.\n"
      "Exit status: 0 power-off, 2 reboot (without --reboot), 4 triple fault, (v<<1)|1 when the guest\n"
      "writes v to the debug-exit port (0xf4), 125 when insula itself fails.");
  cmd->add_option("--kernel,-k", opts->machine.kernel, "kernel to boot")->check(CLI::ExistingFile);
  cmd->add_option("--initrd", opts->machine.initrd, "initial ramdisk (multiboot: the single module)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--cmdline,--append", opts->machine.cmdline, "kernel command line");
  cmd->add_option("--cpus,-c", opts->machine.cpus, "number of vCPUs")->capture_default_str();
  cmd->add_option("--memory,-m", opts->memory, "guest RAM (suffixes K, M, G; plain numbers are MiB)")
      ->capture_default_str();
  cmd->add_flag("--reboot", opts->reboot, "restart the guest when it reboots instead of exiting");
  cmd->add_option("--disk", opts->disks, "virtio-blk disk: PATH[,ro][,cache=direct|writeback][,serial=ID][,format=F]")
      ->take_all();
  cmd->add_option("--net", opts->nets, "virtio-net on a tap device (attached, or created): TAP[,mac=MAC]")->take_all();
  cmd->add_option("--vsock", opts->vsock, "virtio-vsock: CID,UDS_PATH (Firecracker-style host socket)");
  cmd->add_flag("--balloon", opts->balloon, "add a virtio-balloon device (deflated; `insula vm` can drive it)");
  cmd->add_flag("--no-rng", opts->no_rng, "leave out the virtio-rng device");
  cmd->add_option("--console", opts->console, "where stdin/stdout go: serial (COM1, default) or hvc (virtio-console)")
      ->check(CLI::IsMember({"serial", "hvc"}));
  cmd->callback([opts, &ctx] {
    try {
      ctx.exit_code = run_vm(*opts, ctx);
    } catch (const std::exception& e) {
      fmt::print(stderr, "insula: error: {}\n", e.what());
      ctx.exit_code = 125;
    }
  });
}

}  // namespace insula::cli
