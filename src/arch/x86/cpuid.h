// The CPUID policy: what each vCPU is told about itself, built from KVM's
// supported set (never advertising what KVM cannot do) with the topology of
// this VM (N single-threaded cores in one package, APIC IDs 0..N-1) and the
// KVM paravirtual leaves (hypervisor bit, "KVMKVMKVM", kvmclock).
// tsc_deadline_timer: KVM_CAP_TSC_DEADLINE_TIMER, which KVM's supported set
// does not show (leaf 1 ECX bit 24 is the VMM's to set, as QEMU does); with
// it Linux programs its local timer with one MSR write of a TSC deadline.
#pragma once

#include <linux/kvm.h>

#include <cstdint>
#include <vector>

namespace insula::x86 {

std::vector<kvm_cpuid_entry2> build_cpuid(const std::vector<kvm_cpuid_entry2>& supported, uint32_t apic_id,
                                          uint32_t num_cpus, bool tsc_deadline_timer);

}  // namespace insula::x86
