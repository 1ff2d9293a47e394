// Register dump formatting.
#include "vmm/register_dump.h"

#include <fmt/format.h>

namespace insula::vmm {

std::string dump_registers(const kvm::Vcpu& vcpu) {
  try {
    auto r = vcpu.get_regs();
    auto s = vcpu.get_sregs();
    return fmt::format(
        "vCPU {} registers:\n"
        "  rip={:016x} rsp={:016x} rbp={:016x} rflags={:08x}\n"
        "  rax={:016x} rbx={:016x} rcx={:016x} rdx={:016x}\n"
        "  rsi={:016x} rdi={:016x} r8 ={:016x} r9 ={:016x}\n"
        "  r10={:016x} r11={:016x} r12={:016x} r13={:016x}\n"
        "  r14={:016x} r15={:016x}\n"
        "  cs={:04x} base={:x} l={} db={}  ss={:04x} ds={:04x}\n"
        "  cr0={:x} cr2={:x} cr3={:x} cr4={:x} efer={:x}\n"
        "  gdt={:x}/{:x} idt={:x}/{:x}",
        vcpu.id(), r.rip, r.rsp, r.rbp, r.rflags, r.rax, r.rbx, r.rcx, r.rdx, r.rsi, r.rdi, r.r8, r.r9, r.r10, r.r11,
        r.r12, r.r13, r.r14, r.r15, s.cs.selector, s.cs.base, s.cs.l, s.cs.db, s.ss.selector, s.ds.selector, s.cr0, s.cr2,
        s.cr3, s.cr4, s.efer, s.gdt.base, s.gdt.limit, s.idt.base, s.idt.limit);
  } catch (const std::exception& e) {
    return fmt::format("vCPU {} registers unavailable: {}", vcpu.id(), e.what());
  }
}

}  // namespace insula::vmm
