// Machine snapshots: saving a paused machine's whole state (vCPUs, KVM's
// irqchip/PIT/clock, every device, guest RAM) and building a machine that
// continues from it. The sections and their structs are in machine_state.h
// (PCI devices' in pci_devices_state.cc); the container format in
// base/state_file.h.
#include <algorithm>
#include <set>

#include "base/error.h"
#include "base/log.h"
#include "base/state_file.h"
#include "devices/legacy/acpi_pm.h"
#include "devices/legacy/fw_cfg.h"
#include "devices/legacy/i8042.h"
#include "devices/legacy/rtc.h"
#include "vmm/disk_snapshots.h"
#include "vmm/machine.h"
#include "vmm/machine_config_json.h"
#include "vmm/machine_state.h"

namespace insula::vmm {

namespace {

std::set<std::string> known_sections(uint32_t cpus, const std::vector<std::string>& pci) {
  std::set<std::string> ids = {section::kConfig,  section::kClock,  section::kPit,   section::kPicMaster,
                               section::kPicSlave, section::kIoapic, section::kSerial, section::kRtc,
                               section::kI8042,    section::kFwCfg,  section::kAcpiPm,
                               section::kDiskSnapshots};
  for (uint32_t i = 0; i < cpus; ++i) {
    ids.insert(section::vcpu(i));
    ids.insert(section::vcpu_msrs(i));
  }
  ids.insert(pci.begin(), pci.end());
  return ids;
}

// Firecracker's order: registers before the LAPIC, the LAPIC before the
// MSRs (TSC deadline), pending events last.
void restore_vcpu(kvm::Vcpu& v, const VcpuState& s, const std::vector<kvm_msr_entry>& msrs) {
  v.set_mp_state(s.mp_state);
  v.set_regs(s.regs);
  v.set_sregs(s.sregs);
  if (s.has_xsave) {
    v.set_xsave(s.xsave);
    v.set_xcrs(s.xcrs);
  } else {
    v.set_fpu(s.fpu);
  }
  v.set_debugregs(s.debugregs);
  v.set_lapic(s.lapic);
  std::vector<std::pair<uint32_t, uint64_t>> pairs;
  for (const auto& e : msrs) pairs.emplace_back(e.index, e.data);
  try {
    v.set_msrs(pairs);
  } catch (const Error&) {
    // One refused MSR must not lose the others: set them one by one.
    for (const auto& p : pairs) {
      try {
        v.set_msrs({p});
      } catch (const Error& e) {
        INSULA_LOG_WARN("vCPU {}: MSR {:#x} was not restored: {}", v.id(), p.first, e.what());
      }
    }
  }
  v.set_vcpu_events(s.events);
}

// The device thread parked and the workers drained for a scope.
class Quiesced {
 public:
  explicit Quiesced(PciDevices& p) : p_(p) { p_.quiesce(); }
  ~Quiesced() { p_.resume(); }
  Quiesced(const Quiesced&) = delete;
  Quiesced& operator=(const Quiesced&) = delete;

 private:
  PciDevices& p_;
};

}  // namespace

void Machine::snapshot(const std::string& state_file, const std::string& memory_file, const std::string& disk_snapshot) {
  if (!paused()) throw error("the VM must be paused to snapshot it: pause it first");
  // The device thread and workers stop too: nothing may write guest memory,
  // the rings or the disks while they are read.
  Quiesced quiesced(*pci_);
  std::vector<DiskSnapshotRef> disks;
  if (!disk_snapshot.empty()) disks = create_disk_snapshots(pci_->disks(), disk_snapshot);
  try {
    StateWriter w;
    save_state(w);
    if (!disks.empty()) save_disk_snapshots(w, disks);
    ram_->save(memory_file);
    w.write_file(state_file);
  } catch (...) {
    try {
      if (!disks.empty()) delete_disk_snapshots(pci_->disks(), disk_snapshot);
    } catch (const std::exception& e) {
      INSULA_LOG_WARN("could not delete the disk part of the failed snapshot {}: {}", disk_snapshot, e.what());
    }
    throw;
  }
}

void Machine::snapshot_disks(const std::string& name) {
  if (!paused()) throw error("the VM must be paused to snapshot its disks: pause it first");
  // Drained: every request the guest has seen complete is in the snapshot,
  // and none is half-written.
  Quiesced quiesced(*pci_);
  if (create_disk_snapshots(pci_->disks(), name).empty())
    throw error("the VM has no writable disks: a disk snapshot would hold nothing");
}

size_t Machine::delete_disk_snapshot(const std::string& name) {
  // The image serialises its metadata changes with the guest's requests.
  return delete_disk_snapshots(pci_->disks(), name);
}

void Machine::save_state(StateWriter& w) {
  std::string cfg = config_to_json(config_);
  w.add(section::kConfig, kConfigVersion, {reinterpret_cast<const uint8_t*>(cfg.data()), cfg.size()});

  ClockState clock{vm_.get_clock()};
  w.add_struct(section::kClock, clock);
  w.add_struct(section::kPit, PitState{vm_.get_pit2()});
  w.add_struct(section::kPicMaster, IrqchipState{vm_.get_irqchip(KVM_IRQCHIP_PIC_MASTER)});
  w.add_struct(section::kPicSlave, IrqchipState{vm_.get_irqchip(KVM_IRQCHIP_PIC_SLAVE)});
  w.add_struct(section::kIoapic, IrqchipState{vm_.get_irqchip(KVM_IRQCHIP_IOAPIC)});

  bool xsave = kvm_.check_extension(KVM_CAP_XSAVE) > 0;
  bool xcrs = kvm_.check_extension(KVM_CAP_XCRS) > 0;
  for (auto& v : vcpus_) {
    VcpuState s;
    s.regs = v->get_regs();
    s.sregs = v->get_sregs();
    s.fpu = v->get_fpu();
    if (xsave && xcrs) {
      s.has_xsave = 1;
      s.xsave = v->get_xsave();
      s.xcrs = v->get_xcrs();
    }
    s.lapic = v->get_lapic();
    s.events = v->get_vcpu_events();
    s.mp_state = v->get_mp_state();
    s.debugregs = v->get_debugregs();
    w.add_struct(section::vcpu(v->id()), s);
    auto msrs = v->get_msrs(kvm_.msr_index_list());
    w.add(section::vcpu_msrs(v->id()), kVcpuMsrsVersion,
          {reinterpret_cast<const uint8_t*>(msrs.data()), msrs.size() * sizeof(kvm_msr_entry)});
  }

  w.add_struct(section::kSerial, serial_->save());
  w.add_struct(section::kRtc, rtc_->save());
  w.add_struct(section::kI8042, i8042_->save());
  w.add_struct(section::kFwCfg, fw_cfg_->save());
  w.add_struct(section::kAcpiPm, acpi_pm_->save());
  pci_->save(w);
}

std::unique_ptr<Machine> Machine::restore(const std::string& state_file, const std::string& memory_file,
                                          std::function<void(uint8_t)> console_out,
                                          std::unique_ptr<PreparedVm> prepared) {
  // Everything is checked before a machine is built: a bad snapshot changes nothing.
  StateReader r = StateReader::read_file(state_file);
  const StateSection& cfg = r.get(section::kConfig, kConfigVersion);
  MachineConfig config = config_from_json(std::string(cfg.data.begin(), cfg.data.end()));
  // The disks go back to the snapshot's instant before the machine opens
  // them (every one checked before any is reverted).
  check_disk_part(disk_part(config, r), /*revert=*/true);
  return std::unique_ptr<Machine>(new Machine(config, std::move(console_out), std::move(prepared), &r, memory_file));
}

void Machine::restore_state(const StateReader& r) {
  // Every section must be one this machine knows how to restore, and each
  // is read first, so a missing or mismatched one fails before any state is set.
  auto known = known_sections(config_.cpus, pci_->section_ids());
  for (const auto& s : r.sections())
    if (!known.count(s.id))
      throw error("{}: holds state for '{}', which this insula cannot restore: use the insula that wrote it",
                  r.what(), s.id);
  auto clock = r.get_struct<ClockState>(section::kClock);
  auto pit = r.get_struct<PitState>(section::kPit);
  auto pic_master = r.get_struct<IrqchipState>(section::kPicMaster);
  auto pic_slave = r.get_struct<IrqchipState>(section::kPicSlave);
  auto ioapic = r.get_struct<IrqchipState>(section::kIoapic);
  std::vector<VcpuState> vcpus;
  std::vector<std::vector<kvm_msr_entry>> msrs;
  for (auto& v : vcpus_) {
    vcpus.push_back(r.get_struct<VcpuState>(section::vcpu(v->id())));
    msrs.push_back(r.get_array<kvm_msr_entry>(section::vcpu_msrs(v->id()), kVcpuMsrsVersion));
  }
  auto serial = r.get_struct<SerialState>(section::kSerial);
  auto rtc = r.get_struct<RtcState>(section::kRtc);
  auto i8042 = r.get_struct<I8042State>(section::kI8042);
  auto fw_cfg = r.get_struct<FwCfgState>(section::kFwCfg);
  auto acpi_pm = r.get_struct<AcpiPmState>(section::kAcpiPm);

  // The VM-wide in-kernel devices first: a vCPU's LAPIC state is checked
  // against the irqchip it belongs to.
  vm_.set_pit2(pit.pit);
  clock.clock.flags = 0;  // the clock value only; KVM refuses its read-only flags on some kernels
  vm_.set_clock(clock.clock);
  vm_.set_irqchip(pic_master.chip);
  vm_.set_irqchip(pic_slave.chip);
  vm_.set_irqchip(ioapic.chip);
  // Devices before vCPUs: MSI-X routes and BAR mappings exist before the
  // first instruction runs.
  pci_->restore(r);
  for (size_t i = 0; i < vcpus_.size(); ++i) restore_vcpu(*vcpus_[i], vcpus[i], msrs[i]);

  serial_->restore(serial);
  rtc_->restore(rtc);
  i8042_->restore(i8042);
  fw_cfg_->restore(fw_cfg);
  acpi_pm_->restore(acpi_pm);
}

}  // namespace insula::vmm
