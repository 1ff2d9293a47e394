// Machine construction and the vCPU run loop.
#include "vmm/machine.h"

#include <pthread.h>
#include <signal.h>

#include <algorithm>
#include <cstring>

#include "arch/x86/acpi.h"
#include "arch/x86/boot/loader.h"
#include "arch/x86/cpu_setup.h"
#include "arch/x86/e820.h"
#include "arch/x86/guest_layout.h"
#include "arch/x86/layout.h"
#include "arch/x86/mptable.h"
#include "base/error.h"
#include "devices/virtio/virtio_blk.h"
#include "devices/virtio/virtio_net.h"
#include "base/log.h"
#include "base/mapped_file.h"
#include "base/timing.h"
#include "devices/legacy/acpi_pm.h"
#include "devices/legacy/debug_exit.h"
#include "devices/legacy/fw_cfg.h"
#include "devices/legacy/i8042.h"
#include "devices/legacy/rtc.h"
#include "vmm/kvm_irq.h"
#include "vmm/register_dump.h"

namespace insula::vmm {

namespace {

constexpr uint32_t kMaxCpus = 255;  // xAPIC IDs, one byte
// Interrupts a vCPU thread's KVM_RUN; never blocked in those threads (`insula
// run` blocks SIGUSR2, its device-state dump, in all of them instead).
constexpr int kKickSignal = SIGUSR1;

void install_kick_handler() {
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction sa {};
    sa.sa_handler = [](int) {};  // only interrupts KVM_RUN
    sigemptyset(&sa.sa_mask);
    ::sigaction(kKickSignal, &sa, nullptr);
  });
}

}  // namespace

int exit_status(const MachineExit& e) {
  switch (e.kind) {
    case MachineExit::Kind::kPowerOff: return 0;
    case MachineExit::Kind::kReset: return 2;
    case MachineExit::Kind::kTripleFault: return 4;
    case MachineExit::Kind::kDebugExit: return static_cast<int>(((e.value << 1) | 1) & 0xff);
    case MachineExit::Kind::kError: return 125;
    case MachineExit::Kind::kSignal: return 128 + static_cast<int>(e.value);
  }
  return 125;
}

Machine::Machine(const MachineConfig& config, std::function<void(uint8_t)> console_out,
                 std::unique_ptr<PreparedVm> prepared)
    : Machine(config, std::move(console_out), std::move(prepared), nullptr, {}) {}

Machine::Machine(const MachineConfig& config, std::function<void(uint8_t)> console_out,
                 std::unique_ptr<PreparedVm> prepared, const StateReader* state, const std::string& memory_file)
    : config_(config),
      console_out_(std::move(console_out)),
      prepared_(prepared ? std::move(prepared) : std::make_unique<PreparedVm>()),
      backend_(prepared_->backend),
      kvm_(prepared_->kvm),
      vm_(prepared_->vm) {
  timing::mark("machine: KVM VM ready");
  if (config_.cpus < 1 || config_.cpus > kMaxCpus) throw error("--cpus {} is out of range: 1 to {}", config_.cpus, kMaxCpus);
  int max_vcpus = kvm_.check_extension(KVM_CAP_MAX_VCPUS);
  if (max_vcpus > 0 && config_.cpus > static_cast<uint32_t>(max_vcpus))
    throw error("--cpus {}: this host's KVM allows at most {} vCPUs per VM", config_.cpus, max_vcpus);

  if (prepared_->ram && prepared_->ram->size() != config_.memory) {
    // Prepared for another size: its slots cannot be resized, only removed.
    unregister_guest_ram(vm_, *prepared_->ram);
    prepared_->ram.reset();
  }
  if (prepared_->ram) {
    // Already registered with KVM: a snapshot's file only replaces its pages.
    ram_ = std::move(prepared_->ram);
    if (state) ram_->map_file(memory_file);
    timing::mark("machine: guest RAM mapped (registered ahead)");
  } else {
    ram_ = state ? std::make_unique<GuestRam>(config_.memory, x86::kPciHoleStart, memory_file)
                 : std::make_unique<GuestRam>(config_.memory, x86::kPciHoleStart);
    timing::mark("machine: guest RAM mapped");
    register_guest_ram(vm_, *ram_);
    timing::mark("machine: guest RAM registered with KVM");
  }
  setup_devices();
  pci_ = std::make_unique<PciDevices>(vm_, pio_, mmio_, ram_->memory(), config_, config_.memory, legacy_gsi_routes());
  timing::mark("machine: devices set up");
  for (uint32_t i = 0; i < config_.cpus; ++i) {
    vcpus_.push_back(std::make_unique<kvm::Vcpu>(kvm_, vm_, i));
    // A restored vCPU's MSRs, FPU and LAPIC come from the snapshot: only its
    // CPUID (not in the snapshot) is set here, not the reset state it would overwrite.
    if (state) x86::setup_vcpu_cpuid(kvm_, *vcpus_.back(), config_.cpus);
    else x86::setup_vcpu_common(kvm_, *vcpus_.back(), config_.cpus);
  }
  timing::mark("machine: vCPUs created");
  if (state) restore_state(*state);
  else load_kernel();
  timing::mark(state ? "machine: state restored" : "machine: kernel loaded");
}

Machine::~Machine() {
  stop({MachineExit::Kind::kError, 0, "machine destroyed"});
  for (auto& t : threads_)
    if (t.joinable()) t.join();
}

void Machine::setup_devices() {
  auto line = [this](uint32_t gsi) {
    irq_lines_.push_back(std::make_unique<KvmIrqLine>(vm_, gsi));
    return irq_lines_.back().get();
  };
  serial_ = std::make_shared<Serial>(console_out_, line(Serial::kCom1Irq));
  pio_.add(Serial::kCom1Base, 8, serial_, "serial (COM1)");
  i8042_ = std::make_shared<I8042>([this] { stop({MachineExit::Kind::kReset, 0, {}}); }, line(I8042::kKbdIrq));
  pio_.add(I8042::kBase, I8042::kSize, i8042_, "i8042");
  rtc_ = std::make_shared<Rtc>(ram_->lowmem_size(), ram_->highmem_size());
  pio_.add(Rtc::kBase, Rtc::kSize, rtc_, "rtc");
  pio_.add(DebugExit::kBase, DebugExit::kSize,
           std::make_shared<DebugExit>([this](uint32_t v) { stop({MachineExit::Kind::kDebugExit, v, {}}); }),
           "debug-exit");
  fw_cfg_ = std::make_shared<FwCfg>(config_.cpus, config_.memory);
  pio_.add(FwCfg::kBase, FwCfg::kSize, fw_cfg_, "fw_cfg");
  // ACPI fixed hardware: S5 in PM1a_CNT is how ACPI guests power off.
  auto sci = std::make_shared<KvmIrqLine>(vm_, x86::kAcpiSciIrq);
  acpi_pm_ = std::make_shared<AcpiPm>([this] { stop({MachineExit::Kind::kPowerOff, 0, {}}); }, sci);
  pio_.add(x86::kAcpiPmBase, x86::kAcpiPmSize, acpi_pm_, "acpi-pm");
}

uint64_t Machine::build_firmware_tables() {
  x86::AcpiConfig acpi;
  acpi.num_cpus = static_cast<int>(config_.cpus);
  acpi.pci = true;
  acpi.intx = x86::standard_intx_routes();
  acpi.mmio64_base = x86::pci_mmio64_base(config_.memory);
  acpi.mmio64_size = x86::kPciMmio64Size;
  uint64_t rsdp = x86::build_acpi(acpi, ram_->memory());
  x86::build_mptable(acpi, ram_->memory());
  return rsdp;
}

void Machine::load_kernel() {
  if (config_.kernel.empty()) throw Error("no kernel given: use --kernel PATH");
  MappedFile kernel(config_.kernel);
  std::optional<MappedFile> initrd;
  if (!config_.initrd.empty()) initrd.emplace(config_.initrd);

  x86::BootConfig boot;
  boot.kernel_name = config_.kernel;
  boot.cmdline = config_.cmdline;
  if (initrd) boot.initrd = initrd->bytes();
  boot.e820 = x86::build_e820(ram_->lowmem_size(), ram_->highmem_size());
  // Linux uses MMCONFIG only where firmware reserved it.
  boot.e820.push_back({x86::kPciEcamBase, x86::kPciEcamSize, x86::E820Type::kReserved});
  std::sort(boot.e820.begin(), boot.e820.end(), [](const auto& a, const auto& b) { return a.addr < b.addr; });
  boot.lowmem_end = ram_->lowmem_size();
  boot.rsdp_addr = build_firmware_tables();
  x86::BootEntry entry;
  try {
    entry = x86::load_kernel(kernel.bytes(), boot, ram_->memory());
  } catch (const Error&) {
    rethrow_with_context(fmt::format("loading kernel '{}'", config_.kernel));
  }
  x86::setup_boot_vcpu(*vcpus_[0], ram_->memory(), entry);
}

void Machine::stop(MachineExit reason) {
  {
    std::lock_guard lock(exit_mu_);
    if (exit_) return;
    exit_ = std::move(reason);
  }
  stopping_ = true;
  kick_all();
  exit_cv_.notify_all();
  {
    std::lock_guard lock(pause_mu_);
  }
  pause_cv_.notify_all();
}

void Machine::kick_all() {
  for (size_t i = 0; i < vcpus_.size(); ++i) {
    vcpus_[i]->run_struct()->immediate_exit = 1;
    if (i < threads_.size() && threads_[i].joinable()) ::pthread_kill(threads_[i].native_handle(), kKickSignal);
  }
}

void Machine::pause() {
  {
    std::unique_lock lock(pause_mu_);
    if (pause_requested_) return;
    pause_requested_ = true;
    kick_all();
    pause_cv_.wait(lock, [this] { return parked_ + exited_ == started_ || stopping_; });
  }
  flush_disks();
}

void Machine::log_device_counters() {
  if (!pci_) return;
  for (size_t i = 0; pci_->disk(i); ++i) pci_->disk(i)->log_counters();
  for (size_t i = 0; pci_->net(i); ++i) pci_->net(i)->log_counters();
}

void Machine::log_device_state() {
  if (pci_) pci_->log_state();
}

void Machine::flush_disks() {
  // As QEMU's vm_stop: a paused VM's disk files are whole, so another
  // process may copy them (a running VM's export) - the qcow2 driver holds
  // fresh L2 entries back until a flush. (A request still in flight on a
  // worker may land after it; a snapshot quiesces the devices itself.) A
  // failed flush is logged; the guest sees the error at its own next flush.
  if (!pci_) return;
  for (const OpenDisk& d : pci_->disks()) {
    if (d.read_only || !d.dev) continue;
    try {
      d.dev->flush();
    } catch (const std::exception& e) {
      INSULA_LOG_WARN("disk {}: flush failed: {}", d.path, e.what());
    }
  }
}

void Machine::resume() {
  {
    std::lock_guard lock(pause_mu_);
    pause_requested_ = false;
  }
  pause_cv_.notify_all();
}

void Machine::press_power_button() { acpi_pm_->press_power_button(); }

bool Machine::send_ctrl_alt_del() { return i8042_->send_ctrl_alt_del(); }

void Machine::replace_disk(size_t i, const std::string& path) {
  if (i >= config_.disks.size()) throw error("there is no disk {}", i);
  DiskConfig d = config_.disks[i];
  d.path = path;
  pci_->replace_disk(i, d);
  config_.disks[i].path = path;
}

void Machine::set_disk_rate_limiter(size_t i, const virtio::RateLimiterConfig& limit) {
  virtio::VirtioBlk* blk = pci_->disk(i);
  if (!blk || i >= config_.disks.size()) throw error("there is no disk {}", i);
  blk->set_rate_limiter(limit);
  config_.disks[i].rate_limiter = limit;
}

void Machine::set_net_rate_limiters(size_t i, const std::optional<virtio::RateLimiterConfig>& rx,
                                    const std::optional<virtio::RateLimiterConfig>& tx) {
  virtio::VirtioNet* net = pci_->net(i);
  if (!net || i >= config_.nets.size()) throw error("there is no network interface {}", i);
  net->set_rate_limiters(rx, tx);
  if (rx) config_.nets[i].rx_rate_limiter = *rx;
  if (tx) config_.nets[i].tx_rate_limiter = *tx;
}

bool Machine::paused() const {
  std::lock_guard lock(pause_mu_);
  return pause_requested_ && parked_ + exited_ == started_;
}

void Machine::park(kvm::Vcpu& vcpu) {
  std::unique_lock lock(pause_mu_);
  ++parked_;
  pause_cv_.notify_all();
  pause_cv_.wait(lock, [this] { return !pause_requested_ || stopping_; });
  --parked_;
  if (!stopping_) vcpu.run_struct()->immediate_exit = 0;
}

void Machine::start() {
  if (!threads_.empty()) return;
  {
    // Counted before the threads exist, so a pause() from now on waits for
    // every one of them; a pause() before run() returns at once and the
    // threads park as they start (a snapshot loaded paused).
    std::lock_guard lock(pause_mu_);
    exited_ = 0;
    started_ = vcpus_.size();
  }
  install_kick_handler();
  threads_.reserve(vcpus_.size());  // no reallocation under a concurrent kick_all()
  for (auto& v : vcpus_) threads_.emplace_back([this, &vcpu = *v] { vcpu_loop(vcpu); });
}

MachineExit Machine::run() {
  start();
  {
    std::unique_lock lock(exit_mu_);
    exit_cv_.wait(lock, [this] { return exit_.has_value(); });
  }
  // Kick again: a thread may have been between its stopping_ check and KVM_RUN.
  stop({});
  for (auto& t : threads_) t.join();
  threads_.clear();
  return *exit_;
}

void Machine::vcpu_loop(kvm::Vcpu& vcpu) {
  // A vCPU can end while the others go on (HLT with interrupts off): pause()
  // must not wait for it to park.
  struct CountExit {
    Machine& m;
    ~CountExit() {
      std::lock_guard lock(m.pause_mu_);
      ++m.exited_;
      m.pause_cv_.notify_all();
    }
  } count_exit{*this};
  // Only the first entry and exit are marked: the loop stays as it was.
  bool first_exit_marked = !timing::enabled();
  timing::mark(fmt::format("vCPU {}: first KVM_RUN", vcpu.id()));
  try {
    while (!stopping_) {
      if (pause_requested_) {
        // KVM completes an exit's I/O (an IN's value, RIP past an OUT) only
        // on the next KVM_RUN: enter once with immediate_exit set (pause()
        // set it) so a parked vCPU's registers are whole for a snapshot.
        vcpu.run_struct()->immediate_exit = 1;
        if (vcpu.run()) {
          if (!handle_exit(vcpu)) return;
          continue;
        }
        park(vcpu);
        continue;
      }
      bool exited = vcpu.run();
      if (!first_exit_marked) {
        first_exit_marked = true;
        timing::mark(fmt::format("vCPU {}: first exit", vcpu.id()));
      }
      if (!exited) continue;  // kicked
      if (!handle_exit(vcpu)) return;
    }
  } catch (const std::exception& e) {
    stop({MachineExit::Kind::kError, 0, fmt::format("vCPU {}: {}", vcpu.id(), e.what())});
  }
}

bool Machine::handle_exit(kvm::Vcpu& vcpu) {
  kvm_run* run = vcpu.run_struct();
  switch (run->exit_reason) {
    case KVM_EXIT_IO: {
      auto* base = reinterpret_cast<uint8_t*>(run) + run->io.data_offset;
      for (uint32_t i = 0; i < run->io.count; ++i) {
        std::span<uint8_t> data(base + size_t{i} * run->io.size, run->io.size);
        if (run->io.direction == KVM_EXIT_IO_OUT) pio_.write(run->io.port, data);
        else pio_.read(run->io.port, data);
      }
      return true;
    }
    case KVM_EXIT_MMIO: {
      std::span<uint8_t> data(run->mmio.data, std::min<uint32_t>(run->mmio.len, 8));
      if (run->mmio.is_write) mmio_.write(run->mmio.phys_addr, data);
      else mmio_.read(run->mmio.phys_addr, data);
      return true;
    }
    case KVM_EXIT_HLT:
      // With the in-kernel LAPIC, HLT is handled by KVM; seeing it means a
      // halted CPU with interrupts off.
      INSULA_LOG_DEBUG("vCPU {} halted", vcpu.id());
      return false;
    case KVM_EXIT_SHUTDOWN:
      stop(explain_triple_fault(vcpu));
      return false;
    case KVM_EXIT_SYSTEM_EVENT:
      if (run->system_event.type == KVM_SYSTEM_EVENT_RESET) stop({MachineExit::Kind::kReset, 0, {}});
      else stop({MachineExit::Kind::kPowerOff, 0, {}});
      return false;
    case KVM_EXIT_INTERNAL_ERROR:
      stop(explain_internal_error(vcpu));
      return false;
    case KVM_EXIT_FAIL_ENTRY:
      stop({MachineExit::Kind::kError, 0,
            fmt::format("vCPU {}: KVM could not enter the guest (hardware reason {:#x})", vcpu.id(),
                        run->fail_entry.hardware_entry_failure_reason)});
      return false;
    case KVM_EXIT_INTR:
      return true;
    default:
      stop({MachineExit::Kind::kError, 0, fmt::format("vCPU {}: unexpected KVM exit reason {}", vcpu.id(), run->exit_reason)});
      return false;
  }
}

MachineExit Machine::explain_triple_fault(kvm::Vcpu& vcpu) {
  // Where the guest was when it shut down, always: a triple fault is its
  // crash, and the registers are gone with the run. CR2 is the last page
  // fault's address, the IDT the usual culprit.
  // On AMD-V, KVM puts a vCPU that shut down through INIT before it
  // returns (the VMCB is undefined after the shutdown): registers in the
  // INIT state (CS base 0xffff0000, RIP 0xfff0) say so instead.
  std::string where;
  try {
    auto r = vcpu.get_regs();
    auto s = vcpu.get_sregs();
    if (r.rip == 0xfff0 && s.cs.base == 0xffff0000)
      where = " (where is lost: KVM reset the vCPU's registers, as it does on AMD-V)";
    else
      where = fmt::format(" at RIP {:#x} (RSP {:#x}, CR2 {:#x}, IDT {:#x}/{:#x})", r.rip, r.rsp, s.cr2, s.idt.base,
                          s.idt.limit);
  } catch (const Error&) {
  }
  std::string dump = config_.debug ? "\n" + dump_registers(vcpu) : "";
  return {MachineExit::Kind::kTripleFault, 0, fmt::format("vCPU {} triple-faulted{}{}", vcpu.id(), where, dump)};
}

MachineExit Machine::explain_internal_error(kvm::Vcpu& vcpu) {
  kvm_run* run = vcpu.run_struct();
  std::string dump = config_.debug ? "\n" + dump_registers(vcpu) : "";
  uint64_t rip = 0;
  try {
    rip = vcpu.get_regs().rip;
  } catch (const Error&) {
  }
  if (run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION && backend_ == kvm::Backend::kPvm) {
    return {MachineExit::Kind::kError, 0,
            fmt::format("the guest stopped at RIP {:#x} on an instruction this host's KVM cannot emulate. "
                        "/dev/kvm here is PVM (kvm_pvm), which runs only small or PVM-aware guests: an unmodified "
                        "Linux kernel cannot boot on it with any VMM. Run it on a host with VT-x/AMD-V, or inside "
                        "the emulated-hardware test host (tests/nested/testhost). Use --debug for a register dump.{}",
                        rip, dump)};
  }
  const char* what = run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION ? "instruction emulation failed"
                     : run->internal.suberror == KVM_INTERNAL_ERROR_SIMUL_EX ? "a fault occurred while delivering an exception"
                     : run->internal.suberror == KVM_INTERNAL_ERROR_DELIVERY_EV ? "an event could not be delivered"
                                                                              : "internal error";
  return {MachineExit::Kind::kError, 0,
          fmt::format("vCPU {}: KVM internal error (suberror {}: {}) at RIP {:#x}{}", vcpu.id(), run->internal.suberror,
                      what, rip, config_.debug ? dump : std::string(" (use --debug for a register dump)"))};
}

}  // namespace insula::vmm
