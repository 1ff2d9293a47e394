// Kernel format detection and dispatch to the boot protocols.
#include "arch/x86/boot/loader.h"

#include <cstring>

#include "arch/x86/boot/elf.h"
#include "arch/x86/boot/multiboot.h"
#include "base/error.h"

namespace insula::x86 {

const char* kernel_format_name(KernelFormat f) {
  switch (f) {
    case KernelFormat::kBzImage: return "Linux bzImage";
    case KernelFormat::kPvhElf: return "ELF with PVH entry";
    case KernelFormat::kMultiboot: return "multiboot v1";
    case KernelFormat::kUnknown: break;
  }
  return "unknown";
}

KernelFormat detect_kernel_format(std::span<const uint8_t> k) {
  if (find_multiboot_header(k)) return KernelFormat::kMultiboot;
  if (k.size() >= 0x206 && k[0x1fe] == 0x55 && k[0x1ff] == 0xaa && std::memcmp(k.data() + 0x202, "HdrS", 4) == 0)
    return KernelFormat::kBzImage;
  if (is_elf(k)) {
    try {
      auto elf = parse_elf(k);
      if (find_elf_note(k, elf, "Xen", kXenElfNotePhys32Entry)) return KernelFormat::kPvhElf;
    } catch (const Error&) {
    }
  }
  return KernelFormat::kUnknown;
}

BootEntry load_kernel(std::span<const uint8_t> kernel, const BootConfig& cfg, const GuestMemory& mem) {
  switch (detect_kernel_format(kernel)) {
    case KernelFormat::kBzImage: return load_bzimage(kernel, cfg, mem);
    case KernelFormat::kPvhElf: return load_pvh(kernel, cfg, mem);
    case KernelFormat::kMultiboot: return load_multiboot(kernel, cfg, mem);
    case KernelFormat::kUnknown: break;
  }
  throw Error(
      "kernel format not recognised: expected a Linux bzImage, an ELF vmlinux with a PVH note, or a multiboot v1 "
      "kernel");
}

uint64_t place_initrd(uint64_t size, uint64_t lowmem_end, uint64_t max_addr, uint64_t floor) {
  uint64_t limit = std::min(lowmem_end, max_addr);
  uint64_t aligned = (size + 0xfff) & ~uint64_t{0xfff};
  if (aligned > limit || limit - aligned < floor)
    throw error("the initrd ({} bytes) does not fit in guest memory below {:#x} above the kernel: give the VM more memory",
                size, limit);
  return (limit - aligned) & ~uint64_t{0xfff};
}

}  // namespace insula::x86
