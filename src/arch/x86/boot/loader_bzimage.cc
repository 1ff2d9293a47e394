// The Linux x86 boot protocol for bzImage, entered at the 64-bit entry point
// (load address + 0x200) like Firecracker and Cloud Hypervisor: no real-mode
// setup code runs; we fill boot_params (the "zero page") ourselves.
#include <asm/bootparam.h>

#include <cstring>

#include "arch/x86/boot/loader.h"
#include "arch/x86/guest_layout.h"
#include "base/error.h"

namespace insula::x86 {

namespace {

constexpr uint64_t kSetupHeaderOffset = 0x1f1;
constexpr uint16_t kMinProtocol = 0x020c;  // 2.12: xloadflags, 64-bit entry

}  // namespace

BootEntry load_bzimage(std::span<const uint8_t> k, const BootConfig& cfg, const GuestMemory& mem) {
  boot_params bp{};
  // The setup header runs from 0x1f1 to 0x202 + the jump byte at 0x201.
  size_t hdr_end = std::min<size_t>(0x202 + k[0x201], sizeof(boot_params));
  if (k.size() < hdr_end) throw Error("bzImage is truncated inside its setup header");
  std::memcpy(reinterpret_cast<uint8_t*>(&bp) + kSetupHeaderOffset, k.data() + kSetupHeaderOffset,
              hdr_end - kSetupHeaderOffset);
  auto& h = bp.hdr;
  if (h.version < kMinProtocol)
    throw error("bzImage uses boot protocol {}.{:02}; insula needs 2.12 or later (Linux 3.8+)", h.version >> 8,
                h.version & 0xff);
  if (!(h.xloadflags & XLF_KERNEL_64)) throw Error("bzImage has no 64-bit entry point (XLF_KERNEL_64 not set)");

  uint64_t setup_sects = h.setup_sects ? h.setup_sects : 4;
  uint64_t payload_off = (setup_sects + 1) * 512;
  if (payload_off >= k.size()) throw Error("bzImage is truncated: no protected-mode kernel after the setup code");
  uint64_t payload_size = k.size() - payload_off;
  uint64_t load_addr = kHighMemoryStart;
  uint64_t need = std::max<uint64_t>(payload_size, h.init_size);
  if (!mem.contains(load_addr, need))
    throw error("the kernel needs {} MiB from 1 MiB on to decompress: give the VM more memory", need >> 20);
  mem.write(load_addr, k.data() + payload_off, payload_size);

  if (cfg.cmdline.size() + 1 > std::min<uint64_t>(kCmdlineMax, uint64_t{h.cmdline_size} + 1))
    throw error("command line is {} bytes; this kernel accepts at most {}", cfg.cmdline.size(), uint32_t{h.cmdline_size});
  mem.write(kCmdlineAddr, cfg.cmdline.c_str(), cfg.cmdline.size() + 1);
  h.cmd_line_ptr = static_cast<uint32_t>(kCmdlineAddr);
  h.type_of_loader = 0xff;
  h.loadflags |= CAN_USE_HEAP;
  h.heap_end_ptr = 0xfe00;
  h.vid_mode = 0xffff;  // "normal": no mode change

  if (!cfg.initrd.empty()) {
    uint64_t max = h.initrd_addr_max ? uint64_t{h.initrd_addr_max} + 1 : 0x38000000;
    uint64_t at = place_initrd(cfg.initrd.size(), cfg.lowmem_end, max, load_addr + need);
    mem.write(at, cfg.initrd.data(), cfg.initrd.size());
    h.ramdisk_image = static_cast<uint32_t>(at);
    h.ramdisk_size = static_cast<uint32_t>(cfg.initrd.size());
  }
  if (cfg.e820.size() > E820_MAX_ENTRIES_ZEROPAGE) throw Error("too many e820 entries for the zero page");
  for (size_t i = 0; i < cfg.e820.size(); ++i) {
    bp.e820_table[i].addr = cfg.e820[i].addr;
    bp.e820_table[i].size = cfg.e820[i].size;
    bp.e820_table[i].type = static_cast<uint32_t>(cfg.e820[i].type);
  }
  bp.e820_entries = static_cast<uint8_t>(cfg.e820.size());
  bp.acpi_rsdp_addr = cfg.rsdp_addr;
  if (!mem.write_obj(kZeroPageAddr, bp)) throw Error("guest RAM too small for the zero page");

  BootEntry e;
  e.mode = BootEntry::Mode::kLong64;
  e.rip = load_addr + 0x200;
  e.rsi = kZeroPageAddr;
  return e;
}

}  // namespace insula::x86
