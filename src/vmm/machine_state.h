// The plain, versioned state structs a Machine saves for its vCPUs and
// KVM's in-kernel devices: the sections of a state file (base/state_file.h)
// that snapshots write now and live migration will send. Section ids are
// listed here too, so writer and reader cannot disagree.
#pragma once

#include <linux/kvm.h>

#include <cstdint>
#include <string>

#include "kvm/kvm.h"

namespace insula::vmm {

struct VcpuState {
  static constexpr uint32_t kVersion = 1;
  uint32_t version = kVersion;
  uint32_t has_xsave = 0;  // xsave/xcrs are valid (KVM_CAP_XSAVE); else fpu holds the FPU/SSE state
  kvm_regs regs{};
  kvm_sregs sregs{};
  kvm_fpu fpu{};
  kvm::XsaveArea xsave{};
  kvm_xcrs xcrs{};
  kvm_lapic_state lapic{};
  kvm_vcpu_events events{};
  kvm_mp_state mp_state{};
  kvm_debugregs debugregs{};
};
// The vCPU's MSRs are a separate section: an array of kvm_msr_entry, as
// many as KVM's MSR index list let us read.
inline constexpr uint32_t kVcpuMsrsVersion = 1;

struct ClockState {
  static constexpr uint32_t kVersion = 1;
  kvm_clock_data clock{};
};

struct PitState {
  static constexpr uint32_t kVersion = 1;
  kvm_pit_state2 pit{};
};

struct IrqchipState {
  static constexpr uint32_t kVersion = 1;
  kvm_irqchip chip{};
};

// The MachineConfig the machine was built from, as JSON text: restore
// rebuilds the same machine from it before setting any state.
inline constexpr uint32_t kConfigVersion = 1;

namespace section {
inline constexpr const char* kConfig = "machine/config";
inline constexpr const char* kClock = "kvm/clock";
inline constexpr const char* kPit = "kvm/pit";
inline constexpr const char* kPicMaster = "kvm/irqchip/pic-master";
inline constexpr const char* kPicSlave = "kvm/irqchip/pic-slave";
inline constexpr const char* kIoapic = "kvm/irqchip/ioapic";
inline constexpr const char* kSerial = "dev/serial-com1";
inline constexpr const char* kRtc = "dev/rtc";
inline constexpr const char* kI8042 = "dev/i8042";
inline constexpr const char* kFwCfg = "dev/fw_cfg";
inline constexpr const char* kAcpiPm = "dev/acpi-pm";
inline std::string vcpu(uint32_t i) { return "vcpu/" + std::to_string(i); }
inline std::string vcpu_msrs(uint32_t i) { return vcpu(i) + "/msrs"; }
}  // namespace section

}  // namespace insula::vmm
