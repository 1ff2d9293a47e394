// Boot protocol loaders against a fake guest RAM.
#include <asm/bootparam.h>
#include <gtest/gtest.h>

#include <cstring>

#include "arch/x86/boot/loader.h"
#include "arch/x86/boot/multiboot.h"
#include "arch/x86/guest_layout.h"
#include "base/error.h"
#include "elf_builder.h"

namespace insula::x86 {
namespace {

using testing::make_elf32;
using testing::make_note;

class LoaderTest : public ::testing::Test {
 protected:
  static constexpr uint64_t kRam = 64 << 20;
  LoaderTest() : ram(kRam, 0xcc), mem({{0, kRam, ram.data()}}) {
    cfg.kernel_name = "/boot/k";
    cfg.cmdline = "console=ttyS0";
    cfg.e820 = build_e820(kRam, 0);
    cfg.lowmem_end = kRam;
  }
  template <typename T>
  T at(uint64_t gpa) {
    T v;
    std::memcpy(&v, ram.data() + gpa, sizeof v);
    return v;
  }
  std::vector<uint8_t> ram;
  GuestMemory mem;
  BootConfig cfg;
};

std::vector<uint8_t> multiboot_kernel(uint32_t flags = 0x3, uint32_t bss = 0x1000) {
  testing::ElfSpec s;
  s.code.resize(64, 0x90);
  uint32_t hdr[3] = {kMultibootHeaderMagic, flags, static_cast<uint32_t>(-(kMultibootHeaderMagic + flags))};
  std::memcpy(s.code.data() + 16, hdr, sizeof hdr);
  s.bss = bss;
  s.entry = 0x100010;
  return make_elf32(s);
}

TEST_F(LoaderTest, DetectsFormats) {
  EXPECT_EQ(detect_kernel_format(multiboot_kernel()), KernelFormat::kMultiboot);
  testing::ElfSpec pvh;
  pvh.code.resize(16, 0x90);
  pvh.note = make_note("Xen", kXenElfNotePhys32Entry, 0x100000);
  EXPECT_EQ(detect_kernel_format(make_elf32(pvh)), KernelFormat::kPvhElf);
  testing::ElfSpec plain;
  plain.code.resize(16);
  EXPECT_EQ(detect_kernel_format(make_elf32(plain)), KernelFormat::kUnknown);
  std::vector<uint8_t> junk(4096, 0x41);
  EXPECT_EQ(detect_kernel_format(junk), KernelFormat::kUnknown);
  EXPECT_THROW(load_kernel(junk, cfg, mem), Error);
}

TEST_F(LoaderTest, MultibootLoadsSegmentsZeroesBssAndFillsInfo) {
  auto k = multiboot_kernel();
  cfg.initrd = std::span<const uint8_t>(reinterpret_cast<const uint8_t*>("INITRD!!"), 8);
  auto e = load_multiboot(k, cfg, mem);
  EXPECT_EQ(e.mode, BootEntry::Mode::kProtected32);
  EXPECT_EQ(e.rax, kMultibootBootloaderMagic);
  EXPECT_EQ(e.rip, 0x100010u);
  EXPECT_EQ(ram[0x100000], 0x90);
  EXPECT_EQ(ram[0x100040], 0);  // bss zeroed (RAM was 0xcc)
  EXPECT_EQ(ram[0x100040 + 0xfff], 0);
  uint64_t mbi = e.rbx;
  uint32_t flags = at<uint32_t>(mbi);
  EXPECT_TRUE(flags & (1 << 0));
  EXPECT_TRUE(flags & (1 << 6));
  EXPECT_EQ(at<uint32_t>(mbi + 4), 640u);
  EXPECT_EQ(at<uint32_t>(mbi + 8), (kRam - (1 << 20)) / 1024);
  std::string cmdline(reinterpret_cast<char*>(ram.data() + at<uint32_t>(mbi + 16)));
  EXPECT_EQ(cmdline, "/boot/k console=ttyS0");
  ASSERT_EQ(at<uint32_t>(mbi + 20), 1u);  // one module
  uint32_t mod = at<uint32_t>(mbi + 24);
  uint32_t start = at<uint32_t>(mod), end = at<uint32_t>(mod + 4);
  EXPECT_EQ(end - start, 8u);
  EXPECT_EQ(std::memcmp(ram.data() + start, "INITRD!!", 8), 0);
  EXPECT_EQ(start % 4096, 0u);
  // The memory map: entries of 24 bytes (size field first), covering RAM.
  uint32_t mmap_len = at<uint32_t>(mbi + 44), mmap = at<uint32_t>(mbi + 48);
  EXPECT_EQ(mmap_len, cfg.e820.size() * 24);
  EXPECT_EQ(at<uint32_t>(mmap), 20u);
  EXPECT_EQ(at<uint64_t>(mmap + 4), 0u);
  EXPECT_EQ(at<uint32_t>(mmap + 20), 1u);
}

TEST_F(LoaderTest, MultibootRefusesUnknownRequiredFlags) {
  EXPECT_THROW(load_multiboot(multiboot_kernel(0x8), cfg, mem), Error);
}

TEST_F(LoaderTest, MultibootSegmentOutsideRamIsAClearError) {
  testing::ElfSpec s;
  s.paddr = 0x7f000000;
  s.entry = 0x7f000000;
  s.code.resize(64, 0);
  uint32_t hdr[3] = {kMultibootHeaderMagic, 3, static_cast<uint32_t>(-(kMultibootHeaderMagic + 3))};
  std::memcpy(s.code.data(), hdr, sizeof hdr);
  EXPECT_THROW(load_multiboot(make_elf32(s), cfg, mem), Error);
}

TEST_F(LoaderTest, PvhFillsStartInfo) {
  testing::ElfSpec s;
  s.code.resize(32, 0xf4);
  s.note = make_note("Xen", kXenElfNotePhys32Entry, 0x100004);
  cfg.rsdp_addr = 0xe0000;
  auto e = load_pvh(make_elf32(s), cfg, mem);
  EXPECT_EQ(e.rip, 0x100004u);
  EXPECT_EQ(e.rbx, kBootInfoAddr);
  EXPECT_EQ(at<uint32_t>(kBootInfoAddr), 0x336ec578u);
  EXPECT_EQ(at<uint32_t>(kBootInfoAddr + 4), 1u);
  EXPECT_EQ(at<uint64_t>(kBootInfoAddr + 32), 0xe0000u);  // rsdp_paddr
  uint64_t cmd = at<uint64_t>(kBootInfoAddr + 24);      // cmdline_paddr
  ASSERT_EQ(cmd, kCmdlineAddr);
  EXPECT_EQ(std::string(reinterpret_cast<char*>(ram.data() + cmd)), "console=ttyS0");
  EXPECT_EQ(at<uint32_t>(kBootInfoAddr + 48), cfg.e820.size());  // memmap_entries
}

TEST_F(LoaderTest, ElfWithSegmentBeyondFileIsRejected) {
  testing::ElfSpec s;
  s.code.resize(16);
  s.note = make_note("Xen", kXenElfNotePhys32Entry, 0x100000);
  auto k = make_elf32(s);
  k.resize(k.size() - 20);  // cut into the segments
  EXPECT_THROW(load_pvh(k, cfg, mem), Error);
}

std::vector<uint8_t> bzimage(uint16_t version, uint16_t xloadflags, size_t payload) {
  std::vector<uint8_t> k(5 * 512 + payload, 0);
  boot_params bp{};
  bp.hdr.setup_sects = 4;
  bp.hdr.boot_flag = 0xaa55;
  bp.hdr.header = 0x53726448;  // "HdrS"
  bp.hdr.version = version;
  bp.hdr.jump = 0x66eb;        // jump byte 0x66: header ends at 0x268
  bp.hdr.xloadflags = xloadflags;
  bp.hdr.cmdline_size = 2047;
  bp.hdr.initrd_addr_max = 0x7fffffff;
  bp.hdr.init_size = 0x200000;
  std::memcpy(k.data() + 0x1f1, reinterpret_cast<uint8_t*>(&bp) + 0x1f1, 0x268 - 0x1f1);
  for (size_t i = 0; i < payload; ++i) k[5 * 512 + i] = static_cast<uint8_t>(i);
  return k;
}

TEST_F(LoaderTest, BzImageZeroPage) {
  auto k = bzimage(0x020f, XLF_KERNEL_64, 1000);
  ASSERT_EQ(detect_kernel_format(k), KernelFormat::kBzImage);
  cfg.initrd = std::span<const uint8_t>(reinterpret_cast<const uint8_t*>("rd"), 2);
  auto e = load_bzimage(k, cfg, mem);
  EXPECT_EQ(e.mode, BootEntry::Mode::kLong64);
  EXPECT_EQ(e.rip, kHighMemoryStart + 0x200);
  EXPECT_EQ(e.rsi, kZeroPageAddr);
  EXPECT_EQ(ram[kHighMemoryStart + 999], static_cast<uint8_t>(999));
  auto bp = at<boot_params>(kZeroPageAddr);
  EXPECT_EQ(bp.hdr.type_of_loader, 0xff);
  EXPECT_EQ(bp.hdr.cmd_line_ptr, kCmdlineAddr);
  EXPECT_STREQ(reinterpret_cast<char*>(ram.data() + kCmdlineAddr), "console=ttyS0");
  EXPECT_EQ(bp.e820_entries, cfg.e820.size());
  EXPECT_EQ(bp.hdr.ramdisk_size, 2u);
  EXPECT_EQ(ram[bp.hdr.ramdisk_image], 'r');
  EXPECT_GE(bp.hdr.ramdisk_image, kHighMemoryStart + 0x200000);
}

TEST_F(LoaderTest, BzImageTooOldOr32BitOnlyIsRefused) {
  EXPECT_THROW(load_bzimage(bzimage(0x0206, XLF_KERNEL_64, 100), cfg, mem), Error);
  EXPECT_THROW(load_bzimage(bzimage(0x020f, 0, 100), cfg, mem), Error);
}

TEST_F(LoaderTest, CommandLineLongerThanKernelAllowsIsRefused) {
  cfg.cmdline.assign(3000, 'x');
  EXPECT_THROW(load_bzimage(bzimage(0x020f, XLF_KERNEL_64, 100), cfg, mem), Error);
}

TEST(PlaceInitrd, HighestAlignedSpotBelowLimit) {
  EXPECT_EQ(place_initrd(100, 64 << 20, 0x38000000, 2 << 20), (64u << 20) - 4096);
  EXPECT_EQ(place_initrd(5000, 64 << 20, 32 << 20, 2 << 20), (32u << 20) - 8192);
  EXPECT_THROW(place_initrd(63 << 20, 64 << 20, 0x38000000, 2 << 20), Error);
}

TEST(E820, HoleAndHighMemory) {
  auto m = build_e820(3ull << 30, 1ull << 30);
  ASSERT_EQ(m.size(), 4u);
  EXPECT_EQ(m[0].addr, 0u);
  EXPECT_EQ(m[1].type, E820Type::kReserved);
  EXPECT_EQ(m[2].addr, 1u << 20);
  EXPECT_EQ(m[2].addr + m[2].size, 3ull << 30);
  EXPECT_EQ(m[3].addr, 1ull << 32);
  EXPECT_EQ(m[3].size, 1ull << 30);
}

}  // namespace
}  // namespace insula::x86
