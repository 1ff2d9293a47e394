// Where the boot path puts things in guest-physical memory, and why.
// (Firmware tables and the PCI hole are described in arch/x86/layout.h.)
#pragma once

#include <cstdint>

namespace insula::x86 {

constexpr uint64_t k4GiB = 1ULL << 32;
// 0x0 - 0x4FF: real-mode IVT and BIOS data area; left zero.
constexpr uint64_t kGdtAddr = 0x500;   // boot GDT (64-bit and 32-bit flat)
constexpr uint64_t kIdtAddr = 0x520;   // empty IDT for the boot stub
// Boot information for 32-bit protocols (PVH start_info, multiboot info,
// their memory maps and module lists): one page, low, out of the way of a
// guest's SMP trampoline (commonly 0x7000-0x8FFF).
constexpr uint64_t kBootInfoAddr = 0x5000;
constexpr uint64_t kBootInfoSize = 0x1000;
constexpr uint64_t kZeroPageAddr = 0x7000;  // Linux boot_params
constexpr uint64_t kPml4Addr = 0x9000;      // identity page tables for 64-bit entry
constexpr uint64_t kPdptAddr = 0xa000;
constexpr uint64_t kPdAddr = 0xb000;         // 4 pages: 4 GiB of 2 MiB pages
constexpr uint64_t kBootStackTop = 0x8ff0;
constexpr uint64_t kCmdlineAddr = 0x20000;
constexpr uint64_t kCmdlineMax = 0x10000;
constexpr uint64_t kEbdaStart = 0x9fc00;
constexpr uint64_t kHighMemoryStart = 0x100000;  // 1 MiB: where kernels load
// KVM needs three pages for the TSS and one for the identity map on Intel;
// put them just below the IOAPIC, inside the PCI hole.
constexpr uint64_t kKvmTssAddr = 0xfeffd000;
constexpr uint64_t kKvmIdentityMapAddr = 0xfeffc000;

}  // namespace insula::x86
