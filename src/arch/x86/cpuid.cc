// CPUID policy.
#include "arch/x86/cpuid.h"

#include <algorithm>
#include <bit>

namespace insula::x86 {

namespace {

constexpr uint32_t kHypervisorBit = 1u << 31;  // leaf 1 ECX
constexpr uint32_t kHttBit = 1u << 28;         // leaf 1 EDX
constexpr uint32_t kTscDeadlineBit = 1u << 24;  // leaf 1 ECX

kvm_cpuid_entry2* find(std::vector<kvm_cpuid_entry2>& v, uint32_t fn, uint32_t idx = 0) {
  for (auto& e : v)
    if (e.function == fn && (!(e.flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX) || e.index == idx)) return &e;
  return nullptr;
}

uint32_t shift_for(uint32_t n) { return n <= 1 ? 0 : static_cast<uint32_t>(std::bit_width(n - 1)); }

}  // namespace

std::vector<kvm_cpuid_entry2> build_cpuid(const std::vector<kvm_cpuid_entry2>& supported, uint32_t apic_id,
                                          uint32_t num_cpus, bool tsc_deadline_timer) {
  std::vector<kvm_cpuid_entry2> v = supported;
  const uint32_t core_shift = shift_for(num_cpus);

  if (auto* e = find(v, 1)) {
    e->ebx = (e->ebx & 0x0000ffff) | (std::min<uint32_t>(num_cpus, 255) << 16) | (apic_id << 24);
    e->ecx |= kHypervisorBit;
    if (tsc_deadline_timer) e->ecx |= kTscDeadlineBit;
    if (num_cpus > 1) e->edx |= kHttBit;
    else e->edx &= ~kHttBit;
  }
  // Deterministic cache parameters: cores per package, and who shares a cache.
  for (auto& e : v) {
    if (e.function != 4 || (e.eax & 0x1f) == 0) continue;
    uint32_t level = (e.eax >> 5) & 0x7;
    uint32_t sharing = level >= 3 ? num_cpus - 1 : 0;
    e.eax = (e.eax & 0x3fff) | (sharing << 14) | ((num_cpus - 1) << 26);
  }
  // Extended topology (leaf 0xB): SMT level with one thread, core level with N.
  uint32_t max_basic = v.empty() ? 0 : (find(v, 0) ? find(v, 0)->eax : 0);
  v.erase(std::remove_if(v.begin(), v.end(), [](const kvm_cpuid_entry2& e) { return e.function == 0xb || e.function == 0x1f; }),
          v.end());
  if (max_basic >= 0xb) {
    auto add = [&](uint32_t idx, uint32_t eax, uint32_t ebx, uint32_t ecx) {
      kvm_cpuid_entry2 e{};
      e.function = 0xb;
      e.index = idx;
      e.flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX;
      e.eax = eax;
      e.ebx = ebx;
      e.ecx = ecx;
      e.edx = apic_id;
      v.push_back(e);
    };
    add(0, 0, 1, (1u << 8) | 0);
    add(1, core_shift, num_cpus, (2u << 8) | 1);
    add(2, 0, 0, 2);
  }
  // AMD: core count and APIC-ID width, and per-core identification.
  if (auto* e = find(v, 0x80000008)) e->ecx = (e->ecx & ~0xf0ffu) | (core_shift << 12) | (num_cpus - 1);
  if (auto* e = find(v, 0x8000001e)) {
    e->eax = apic_id;
    e->ebx = apic_id & 0xff;  // one thread per core
    e->ecx = 0;
  }
  // KVM signature leaf: guests (and our cpuid test) look for "KVMKVMKVM".
  if (auto* e = find(v, 0x40000000)) {
    e->eax = std::max<uint32_t>(e->eax, 0x40000001);
    e->ebx = 0x4b4d564b;  // "KVMK"
    e->ecx = 0x564b4d56;  // "VMKV"
    e->edx = 0x0000004d;  // "M\0\0\0"
  }
  return v;
}

}  // namespace insula::x86
