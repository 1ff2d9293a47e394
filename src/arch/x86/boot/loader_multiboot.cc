// Multiboot v1, loaded the way QEMU's -kernel does: ELF segments at p_paddr
// (or the a.out-kludge addresses when header flag 16 is set), EBX pointing at a
// multiboot_info with memory sizes, the e820 map, the command line
// ("kernel-name args") and the initrd as the single module.
#include <cstring>

#include "arch/x86/boot/elf.h"
#include "arch/x86/boot/loader.h"
#include "arch/x86/boot/multiboot.h"
#include "arch/x86/guest_layout.h"
#include "base/error.h"

namespace insula::x86 {

namespace {

constexpr uint32_t kInfoMem = 1u << 0;
constexpr uint32_t kInfoCmdline = 1u << 2;
constexpr uint32_t kInfoMods = 1u << 3;
constexpr uint32_t kInfoMmap = 1u << 6;
constexpr uint32_t kInfoLoaderName = 1u << 9;

#pragma pack(push, 1)
struct MultibootInfo {
  uint32_t flags, mem_lower, mem_upper, boot_device, cmdline, mods_count, mods_addr;
  uint32_t syms[4];
  uint32_t mmap_length, mmap_addr;
  uint32_t drives_length, drives_addr, config_table, boot_loader_name, apm_table;
  uint32_t vbe[6];
};
struct MultibootMmapEntry {
  uint32_t size;  // of the rest of the entry (20)
  uint64_t addr, len;
  uint32_t type;
};
struct MultibootModule {
  uint32_t mod_start, mod_end, string, reserved;
};
#pragma pack(pop)

// Places the boot-info pieces one after another in the boot-info page.
class InfoWriter {
 public:
  explicit InfoWriter(const GuestMemory& mem) : mem_(mem), next_(kBootInfoAddr) {}
  uint64_t put(const void* data, size_t len) {
    uint64_t at = (next_ + 7) & ~uint64_t{7};
    if (at + len > kBootInfoAddr + kBootInfoSize) throw Error("multiboot information does not fit in its page");
    if (!mem_.write(at, data, len)) throw Error("guest RAM too small for multiboot information");
    next_ = at + len;
    return at;
  }
  uint64_t put_string(const std::string& s) { return put(s.c_str(), s.size() + 1); }

 private:
  const GuestMemory& mem_;
  uint64_t next_;
};

}  // namespace

std::optional<FoundMultibootHeader> find_multiboot_header(std::span<const uint8_t> k) {
  size_t limit = std::min<size_t>(k.size(), 8192);
  for (size_t off = 0; off + 12 <= limit; off += 4) {
    uint32_t w[3];
    std::memcpy(w, k.data() + off, 12);
    if (w[0] != kMultibootHeaderMagic || uint32_t(w[0] + w[1] + w[2]) != 0) continue;
    FoundMultibootHeader f{};
    std::memcpy(&f.header, k.data() + off, std::min<size_t>(sizeof(MultibootHeader), k.size() - off));
    f.offset = off;
    return f;
  }
  return std::nullopt;
}

BootEntry load_multiboot(std::span<const uint8_t> k, const BootConfig& cfg, const GuestMemory& mem) {
  auto found = find_multiboot_header(k);
  if (!found) throw Error("no multiboot header in the first 8 KiB");
  const auto& h = found->header;
  // Bits 0-15 are requirements: 0 (page-aligned modules) and 1 (memory info)
  // are met; 2 (video mode) is ignored as QEMU does; the rest are unknown.
  if (h.flags & 0x0000fff8) throw error("multiboot header asks for unknown required features (flags {:#x})", h.flags);

  uint64_t entry, kernel_end;
  if (h.flags & (1u << 16)) {
    // a.out kludge: the header says where the file goes.
    if (h.load_addr > h.header_addr) throw Error("multiboot header: load_addr above header_addr");
    uint64_t file_off = found->offset - (h.header_addr - h.load_addr);
    if (file_off > k.size()) throw Error("multiboot header: load address points before the file");
    uint64_t len = h.load_end_addr ? uint64_t{h.load_end_addr} - h.load_addr : k.size() - file_off;
    if (h.load_end_addr && h.load_end_addr < h.load_addr) throw Error("multiboot header: load_end_addr < load_addr");
    len = std::min<uint64_t>(len, k.size() - file_off);
    uint64_t bss_end = h.bss_end_addr ? h.bss_end_addr : h.load_addr + len;
    if (bss_end < h.load_addr + len) throw Error("multiboot header: bss_end_addr below the loaded image");
    uint8_t* dst = mem.host_ptr(h.load_addr, bss_end - h.load_addr);
    if (!dst) throw Error("multiboot kernel does not fit in guest RAM");
    std::memcpy(dst, k.data() + file_off, len);
    std::memset(dst + len, 0, bss_end - h.load_addr - len);
    entry = h.entry_addr;
    kernel_end = bss_end;
  } else {
    auto elf = parse_elf(k);
    kernel_end = load_elf_segments(k, elf, mem);
    entry = elf.entry;
    // QEMU translates a virtual entry point to its physical address.
    for (const auto& s : elf.loads)
      if (entry >= s.vaddr && entry < s.vaddr + s.mem_size) entry = entry - s.vaddr + s.paddr;
  }
  if (entry >= k4GiB) throw error("multiboot entry point {:#x} is above 4 GiB", entry);

  InfoWriter w(mem);
  MultibootInfo info{};
  info.flags = kInfoMem | kInfoCmdline | kInfoMmap | kInfoLoaderName | kInfoMods;
  info.mem_lower = 640;
  info.mem_upper = static_cast<uint32_t>((std::min(cfg.lowmem_end, k4GiB) - kHighMemoryStart) / 1024);
  std::string cmdline = cfg.kernel_name + (cfg.cmdline.empty() ? "" : " " + cfg.cmdline);
  info.cmdline = static_cast<uint32_t>(w.put_string(cmdline));
  info.boot_loader_name = static_cast<uint32_t>(w.put_string("insula"));
  std::vector<MultibootMmapEntry> mmap;
  for (const auto& e : cfg.e820) mmap.push_back({20, e.addr, e.size, static_cast<uint32_t>(e.type)});
  info.mmap_addr = static_cast<uint32_t>(w.put(mmap.data(), mmap.size() * sizeof(MultibootMmapEntry)));
  info.mmap_length = static_cast<uint32_t>(mmap.size() * sizeof(MultibootMmapEntry));
  if (!cfg.initrd.empty()) {
    uint64_t at = place_initrd(cfg.initrd.size(), cfg.lowmem_end, k4GiB, kernel_end);
    mem.write(at, cfg.initrd.data(), cfg.initrd.size());
    MultibootModule mod{static_cast<uint32_t>(at), static_cast<uint32_t>(at + cfg.initrd.size()),
                        static_cast<uint32_t>(w.put_string("initrd")), 0};
    info.mods_addr = static_cast<uint32_t>(w.put(&mod, sizeof mod));
    info.mods_count = 1;
  }
  BootEntry e;
  e.mode = BootEntry::Mode::kProtected32;
  e.rip = entry;
  e.rax = kMultibootBootloaderMagic;
  e.rbx = w.put(&info, sizeof info);
  return e;
}

}  // namespace insula::x86
