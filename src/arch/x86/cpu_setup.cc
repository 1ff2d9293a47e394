// vCPU initial state.
#include "arch/x86/cpu_setup.h"

#include <algorithm>
#include <cstring>
#include <unordered_set>

#include "arch/x86/cpuid.h"
#include "arch/x86/guest_layout.h"
#include "base/error.h"
#include "base/log.h"

namespace insula::x86 {

namespace {

// GDT selectors.
constexpr uint16_t kCode32Sel = 0x08;
constexpr uint16_t kCode64Sel = 0x10;
constexpr uint16_t kDataSel = 0x18;
constexpr uint16_t kTssSel = 0x20;
constexpr uint64_t kGdt[] = {
    0,
    0x00cf9b000000ffff,  // 32-bit code, flat
    0x00af9b000000ffff,  // 64-bit code
    0x00cf93000000ffff,  // data, flat
    0x00008b0000000067,  // 32-bit TSS (busy), base 0, limit 0x67
};

constexpr uint64_t kCr0Pe = 1, kCr0Et = 1 << 4, kCr0Pg = 1ull << 31;
constexpr uint64_t kCr4Pae = 1 << 5;
constexpr uint64_t kEferLme = 1 << 8, kEferLma = 1 << 10;

kvm_segment segment(uint16_t sel, uint8_t type, bool code64, bool db) {
  kvm_segment s{};
  s.base = 0;
  s.limit = 0xffffffff;
  s.selector = sel;
  s.type = type;
  s.present = 1;
  s.dpl = 0;
  s.db = db;
  s.s = 1;
  s.l = code64;
  s.g = 1;
  return s;
}

void write_page_tables(const GuestMemory& mem) {
  // PML4[0] -> PDPT; PDPT[0..3] -> 4 page directories of 2 MiB pages: 4 GiB.
  if (!mem.write_obj(kPml4Addr, uint64_t{kPdptAddr | 0x3})) throw Error("guest RAM too small for page tables");
  for (uint64_t i = 0; i < 4; ++i) {
    mem.write_obj(kPdptAddr + i * 8, uint64_t{(kPdAddr + i * 0x1000) | 0x3});
    for (uint64_t j = 0; j < 512; ++j) {
      uint64_t addr = (i << 30) | (j << 21);
      mem.write_obj(kPdAddr + i * 0x1000 + j * 8, uint64_t{addr | 0x83});  // present, rw, 2 MiB
    }
  }
}

}  // namespace

void setup_vcpu_cpuid(const kvm::Kvm& kvm, kvm::Vcpu& vcpu, uint32_t num_cpus) {
  vcpu.set_cpuid(build_cpuid(kvm.supported_cpuid(), vcpu.id(), num_cpus,
                             kvm.check_extension(KVM_CAP_TSC_DEADLINE_TIMER) > 0));
}

void setup_vcpu_common(const kvm::Kvm& kvm, kvm::Vcpu& vcpu, uint32_t num_cpus) {
  setup_vcpu_cpuid(kvm, vcpu, num_cpus);

  // MSRs a freshly reset CPU would have, as Linux expects them; only those
  // KVM knows how to set (PVM refuses some).
  const std::pair<uint32_t, uint64_t> wanted[] = {
      {0x174, 0},              // IA32_SYSENTER_CS
      {0x175, 0},              // IA32_SYSENTER_ESP
      {0x176, 0},              // IA32_SYSENTER_EIP
      {0xc0000081, 0},         // STAR
      {0xc0000082, 0},         // LSTAR
      {0xc0000083, 0},         // CSTAR
      {0xc0000084, 0},         // SYSCALL_MASK
      {0xc0000102, 0},         // KERNEL_GS_BASE
      {0x1a0, 1},              // IA32_MISC_ENABLE: fast strings
      {0x2ff, (1 << 11) | 6},  // MTRRdefType: enabled, write-back
  };
  const auto& list = kvm.msr_index_list();
  std::unordered_set<uint32_t> known(list.begin(), list.end());
  std::vector<std::pair<uint32_t, uint64_t>> msrs;
  for (const auto& m : wanted)
    if (known.count(m.first)) msrs.push_back(m);
  for (const auto& m : msrs) {
    try {
      vcpu.set_msrs({m});
    } catch (const Error& e) {
      INSULA_LOG_DEBUG("vCPU {}: MSR {:#x} not set: {}", vcpu.id(), m.first, e.what());
    }
  }

  kvm_fpu fpu{};
  fpu.fcw = 0x37f;
  fpu.mxcsr = 0x1f80;
  vcpu.set_fpu(fpu);

  // LINT0 = ExtINT (the PIC), LINT1 = NMI, as firmware leaves them.
  auto lapic = vcpu.get_lapic();
  auto set_lvt = [&](size_t off, uint32_t mode) {
    uint32_t v;
    std::memcpy(&v, lapic.regs + off, 4);
    v = (v & ~0x700u) | (mode << 8);
    std::memcpy(lapic.regs + off, &v, 4);
  };
  set_lvt(0x350, 0x7);  // ExtINT
  set_lvt(0x360, 0x4);  // NMI
  vcpu.set_lapic(lapic);
}

void setup_boot_vcpu(kvm::Vcpu& vcpu, const GuestMemory& mem, const BootEntry& entry) {
  if (!mem.write(kGdtAddr, kGdt, sizeof kGdt)) throw Error("guest RAM too small for the boot GDT");
  kvm_sregs s = vcpu.get_sregs();
  s.gdt.base = kGdtAddr;
  s.gdt.limit = sizeof kGdt - 1;
  s.idt.base = kIdtAddr;
  s.idt.limit = 0;
  const bool long_mode = entry.mode == BootEntry::Mode::kLong64;
  s.cs = long_mode ? segment(kCode64Sel, 0xb, true, false) : segment(kCode32Sel, 0xb, false, true);
  s.ds = s.es = s.fs = s.gs = s.ss = segment(kDataSel, 0x3, false, true);
  s.tr = segment(kTssSel, 0xb, false, false);
  s.tr.s = 0;
  s.tr.g = 0;
  s.tr.limit = 0x67;
  if (long_mode) {
    write_page_tables(mem);
    s.cr3 = kPml4Addr;
    s.cr4 |= kCr4Pae;
    s.cr0 = kCr0Pe | kCr0Et | kCr0Pg;
    s.efer |= kEferLme | kEferLma;
  } else {
    s.cr0 = kCr0Pe | kCr0Et;
    s.cr4 = 0;
    s.efer = 0;
  }
  vcpu.set_sregs(s);

  kvm_regs r{};
  r.rflags = 0x2;
  r.rip = entry.rip;
  r.rsi = entry.rsi;
  r.rbx = entry.rbx;
  r.rax = entry.rax;
  if (long_mode) r.rsp = r.rbp = kBootStackTop;
  vcpu.set_regs(r);
}

}  // namespace insula::x86
