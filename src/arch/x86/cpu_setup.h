// Initial vCPU state: CPUID, MSRs, FPU, LAPIC for every vCPU; registers,
// segments and page tables for the boot vCPU, as the boot protocol asks.
#pragma once

#include <cstdint>

#include "arch/x86/boot/loader.h"
#include "base/guest_memory.h"
#include "kvm/kvm.h"

namespace insula::x86 {

// CPUID (from the policy), MSRs, FPU and the LAPIC's LINT0/LINT1 wiring.
void setup_vcpu_common(const kvm::Kvm& kvm, kvm::Vcpu& vcpu, uint32_t num_cpus);
// Only the CPUID: all a vCPU restored from a snapshot needs before its state is set.
void setup_vcpu_cpuid(const kvm::Kvm& kvm, kvm::Vcpu& vcpu, uint32_t num_cpus);

// Writes the boot GDT (and for 64-bit entry identity page tables covering the
// first 4 GiB) into guest memory, then sets the boot vCPU's registers.
void setup_boot_vcpu(kvm::Vcpu& vcpu, const GuestMemory& mem, const BootEntry& entry);

}  // namespace insula::x86
