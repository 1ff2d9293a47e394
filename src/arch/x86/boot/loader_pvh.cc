// The PVH boot protocol (Xen's "direct boot" used by QEMU, Firecracker and
// Cloud Hypervisor for ELF vmlinux): segments at p_paddr, 32-bit protected
// mode at the XEN_ELFNOTE_PHYS32_ENTRY address, EBX -> hvm_start_info.
#include <cstring>

#include "arch/x86/boot/elf.h"
#include "arch/x86/boot/loader.h"
#include "arch/x86/boot/multiboot.h"
#include "arch/x86/guest_layout.h"
#include "base/error.h"

namespace insula::x86 {

namespace {

constexpr uint32_t kHvmStartMagic = 0x336ec578;

struct HvmStartInfo {
  uint32_t magic, version, flags, nr_modules;
  uint64_t modlist_paddr, cmdline_paddr, rsdp_paddr, memmap_paddr;
  uint32_t memmap_entries, reserved;
};
struct HvmMemmapEntry {
  uint64_t addr, size;
  uint32_t type, reserved;
};
struct HvmModlistEntry {
  uint64_t paddr, size, cmdline_paddr, reserved;
};
static_assert(sizeof(HvmStartInfo) == 56);
static_assert(sizeof(HvmMemmapEntry) == 24);

}  // namespace

BootEntry load_pvh(std::span<const uint8_t> k, const BootConfig& cfg, const GuestMemory& mem) {
  auto elf = parse_elf(k);
  auto note = find_elf_note(k, elf, "Xen", kXenElfNotePhys32Entry);
  if (!note) throw Error("ELF kernel has no PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY)");
  uint64_t entry = 0;
  if (note->size() == 4) {
    uint32_t e32;
    std::memcpy(&e32, note->data(), 4);
    entry = e32;
  } else if (note->size() == 8) {
    std::memcpy(&entry, note->data(), 8);
  } else {
    throw error("PVH entry note has a descriptor of {} bytes (expected 4 or 8)", note->size());
  }
  if (entry >= k4GiB) throw error("PVH entry point {:#x} is above 4 GiB", entry);
  uint64_t kernel_end = load_elf_segments(k, elf, mem);

  if (cfg.cmdline.size() + 1 > kCmdlineMax) throw error("command line is longer than {} bytes", kCmdlineMax - 1);
  mem.write(kCmdlineAddr, cfg.cmdline.c_str(), cfg.cmdline.size() + 1);

  HvmStartInfo si{};
  si.magic = kHvmStartMagic;
  si.version = 1;
  si.cmdline_paddr = kCmdlineAddr;
  si.rsdp_paddr = cfg.rsdp_addr;
  uint64_t next = kBootInfoAddr + sizeof(HvmStartInfo);
  std::vector<HvmMemmapEntry> map;
  for (const auto& e : cfg.e820) map.push_back({e.addr, e.size, static_cast<uint32_t>(e.type), 0});
  if (next + map.size() * sizeof(HvmMemmapEntry) + sizeof(HvmModlistEntry) > kBootInfoAddr + kBootInfoSize)
    throw Error("PVH memory map does not fit in its page");
  si.memmap_paddr = next;
  si.memmap_entries = static_cast<uint32_t>(map.size());
  mem.write(next, map.data(), map.size() * sizeof(HvmMemmapEntry));
  next += map.size() * sizeof(HvmMemmapEntry);
  if (!cfg.initrd.empty()) {
    uint64_t at = place_initrd(cfg.initrd.size(), cfg.lowmem_end, k4GiB, kernel_end);
    mem.write(at, cfg.initrd.data(), cfg.initrd.size());
    HvmModlistEntry mod{at, cfg.initrd.size(), 0, 0};
    mem.write_obj(next, mod);
    si.modlist_paddr = next;
    si.nr_modules = 1;
  }
  if (!mem.write_obj(kBootInfoAddr, si)) throw Error("guest RAM too small for PVH start info");

  BootEntry e;
  e.mode = BootEntry::Mode::kProtected32;
  e.rip = entry;
  e.rbx = kBootInfoAddr;
  return e;
}

}  // namespace insula::x86
