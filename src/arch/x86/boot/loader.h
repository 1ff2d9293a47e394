// Kernel loading: detect the format of a kernel file and place it, its
// command line, initrd and boot information in guest memory.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "arch/x86/e820.h"
#include "base/guest_memory.h"

namespace insula::x86 {

enum class KernelFormat { kBzImage, kPvhElf, kMultiboot, kUnknown };
const char* kernel_format_name(KernelFormat f);
KernelFormat detect_kernel_format(std::span<const uint8_t> kernel);

struct BootConfig {
  std::string kernel_name;  // multiboot puts it first on the command line
  std::string cmdline;
  std::span<const uint8_t> initrd;  // empty when none
  std::vector<E820Entry> e820;
  uint64_t lowmem_end = 0;  // end of RAM below 4 GiB
  uint64_t rsdp_addr = 0;   // 0 when there are no ACPI tables
};

// The CPU state the boot protocol asks for on the boot vCPU.
struct BootEntry {
  enum class Mode { kLong64, kProtected32 } mode = Mode::kLong64;
  uint64_t rip = 0;
  uint64_t rsi = 0;  // Linux 64-bit: boot_params
  uint64_t rbx = 0;  // PVH: hvm_start_info; multiboot: multiboot info
  uint64_t rax = 0;  // multiboot: magic
};

// Loads the kernel; throws Error naming what is wrong with the file.
BootEntry load_kernel(std::span<const uint8_t> kernel, const BootConfig& cfg, const GuestMemory& mem);

// The individual protocols (loader_*.cc).
BootEntry load_bzimage(std::span<const uint8_t> kernel, const BootConfig& cfg, const GuestMemory& mem);
BootEntry load_pvh(std::span<const uint8_t> kernel, const BootConfig& cfg, const GuestMemory& mem);
BootEntry load_multiboot(std::span<const uint8_t> kernel, const BootConfig& cfg, const GuestMemory& mem);

// Where an initrd of `size` bytes goes: page-aligned, as high as possible
// below min(lowmem_end, max_addr), above `floor`. Throws when it does not fit.
uint64_t place_initrd(uint64_t size, uint64_t lowmem_end, uint64_t max_addr, uint64_t floor);

}  // namespace insula::x86
