// The CPUID policy on a synthetic "supported" set.
#include <cstring>
#include "arch/x86/cpuid.h"

#include <gtest/gtest.h>

namespace insula::x86 {
namespace {

kvm_cpuid_entry2 entry(uint32_t fn, uint32_t eax = 0, uint32_t ebx = 0, uint32_t ecx = 0, uint32_t edx = 0) {
  kvm_cpuid_entry2 e{};
  e.function = fn;
  e.eax = eax;
  e.ebx = ebx;
  e.ecx = ecx;
  e.edx = edx;
  return e;
}

const kvm_cpuid_entry2* find(const std::vector<kvm_cpuid_entry2>& v, uint32_t fn, uint32_t idx = 0) {
  for (const auto& e : v)
    if (e.function == fn && e.index == idx) return &e;
  return nullptr;
}

std::vector<kvm_cpuid_entry2> supported() {
  return {entry(0, 0xd), entry(1, 0, 0x0000ff00), entry(0xb, 1, 2, 0x100, 7), entry(0x40000000, 0x40000001),
          entry(0x40000001, 0x01000089), entry(0x80000008, 0x3030, 0, 0xffff)};
}

TEST(Cpuid, ApicIdCountAndHypervisorBit) {
  auto v = build_cpuid(supported(), 2, 4, false);
  auto* l1 = find(v, 1);
  ASSERT_TRUE(l1);
  EXPECT_EQ(l1->ebx >> 24, 2u);
  EXPECT_EQ((l1->ebx >> 16) & 0xff, 4u);
  EXPECT_EQ(l1->ebx & 0xffff, 0xff00u);  // other fields kept
  EXPECT_TRUE(l1->ecx & (1u << 31));
  EXPECT_TRUE(l1->edx & (1u << 28));
}

TEST(Cpuid, ExtendedTopologyReplacesHosts) {
  auto v = build_cpuid(supported(), 3, 4, false);
  auto* smt = find(v, 0xb, 0);
  auto* core = find(v, 0xb, 1);
  ASSERT_TRUE(smt && core);
  EXPECT_EQ(smt->ebx, 1u);
  EXPECT_EQ(core->ebx, 4u);
  EXPECT_EQ(core->eax, 2u);  // shift: 4 cores need 2 bits
  EXPECT_EQ(core->edx, 3u);  // x2APIC ID
  EXPECT_EQ((core->ecx >> 8) & 0xff, 2u);
}

TEST(Cpuid, KvmSignatureAndAmdCoreCount) {
  auto v = build_cpuid(supported(), 0, 3, false);
  auto* sig = find(v, 0x40000000);
  ASSERT_TRUE(sig);
  char s[13] = {};
  std::memcpy(s, &sig->ebx, 4);
  std::memcpy(s + 4, &sig->ecx, 4);
  std::memcpy(s + 8, &sig->edx, 4);
  EXPECT_STREQ(s, "KVMKVMKVM");
  EXPECT_EQ(find(v, 0x40000001)->eax, 0x01000089u);  // kvmclock features kept
  EXPECT_EQ(find(v, 0x80000008)->ecx & 0xff, 2u);
}

TEST(Cpuid, TscDeadlineTimerOnlyWhenKvmHasIt) {
  EXPECT_FALSE(find(build_cpuid(supported(), 0, 2, false), 1)->ecx & (1u << 24));
  EXPECT_TRUE(find(build_cpuid(supported(), 0, 2, true), 1)->ecx & (1u << 24));
}

TEST(Cpuid, SingleCpuHasNoHtt) {
  auto v = build_cpuid(supported(), 0, 1, false);
  EXPECT_FALSE(find(v, 1)->edx & (1u << 28));
}

}  // namespace
}  // namespace insula::x86
