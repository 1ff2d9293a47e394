// Thin RAII wrappers over the KVM API: the system fd, a VM, and a vCPU.
// Every failing ioctl throws insula::Error naming the operation.
#pragma once

#include <linux/kvm.h>

#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "base/fd.h"

namespace insula::kvm {

// What kind of KVM backs /dev/kvm: it decides whether unmodified kernels run.
// kNone: there is no /dev/kvm (a loaded module that did not bind, such as
// kvm_pvm inside a PVM guest, creates none).
enum class Backend { kIntel, kAmd, kPvm, kUnknown, kNone };
Backend detect_backend();
std::string backend_name(Backend b);

class Vcpu;

// The legacy 4 KiB XSAVE area of KVM_GET/SET_XSAVE (linux/kvm.h's struct
// adds a flexible array whose C++ size would change the ioctl number).
struct XsaveArea {
  uint32_t region[1024];
};

class Kvm {
 public:
  // Opens /dev/kvm with a clear error for "absent" and "no permission".
  Kvm();
  int fd() const { return fd_.get(); }
  int check_extension(long cap) const;
  // Throws with a message naming the capability when it is missing.
  void require(long cap, const char* name) const;
  int vcpu_mmap_size() const;
  // Both asked of KVM once, then remembered: every vCPU's setup uses them.
  const std::vector<kvm_cpuid_entry2>& supported_cpuid() const;
  // MSR indices KVM can save/restore.
  const std::vector<uint32_t>& msr_index_list() const;

 private:
  std::vector<kvm_cpuid_entry2> query_supported_cpuid() const;
  std::vector<uint32_t> query_msr_index_list() const;

  UniqueFd fd_;
  mutable std::once_flag cpuid_once_, msrs_once_;
  mutable std::vector<kvm_cpuid_entry2> cpuid_;
  mutable std::vector<uint32_t> msrs_;
};

class Vm {
 public:
  explicit Vm(const Kvm& kvm);
  int fd() const { return fd_.get(); }

  void set_user_memory_region(uint32_t slot, uint64_t gpa, uint64_t size, void* host, uint32_t flags = 0);
  void set_tss_addr(uint64_t addr);
  void set_identity_map_addr(uint64_t addr);
  void create_irqchip();
  void create_pit2();
  void set_irq_line(uint32_t irq, bool level);
  void signal_msi(uint64_t address, uint32_t data);
  void set_gsi_routing(const std::vector<kvm_irq_routing_entry>& entries);
  void irqfd(int eventfd, uint32_t gsi, bool deassign = false);
  // Registers an eventfd signalled when the guest writes to addr (pio or mmio).
  void ioeventfd(int eventfd, uint64_t addr, uint32_t len, bool pio, bool deassign = false);
  void set_clock(uint64_t ns);

  // Saved state of the in-kernel devices (snapshots): chip is
  // KVM_IRQCHIP_PIC_MASTER, _PIC_SLAVE or _IOAPIC.
  kvm_irqchip get_irqchip(uint32_t chip) const;
  void set_irqchip(const kvm_irqchip& c);
  kvm_pit_state2 get_pit2() const;
  void set_pit2(const kvm_pit_state2& s);
  kvm_clock_data get_clock() const;
  void set_clock(const kvm_clock_data& c);

 private:
  UniqueFd fd_;
};

class Vcpu {
 public:
  Vcpu(const Kvm& kvm, const Vm& vm, uint32_t id);
  ~Vcpu();
  Vcpu(const Vcpu&) = delete;
  Vcpu& operator=(const Vcpu&) = delete;

  uint32_t id() const { return id_; }
  int fd() const { return fd_.get(); }
  kvm_run* run_struct() const { return run_; }

  // One KVM_RUN. Returns false on EINTR/EAGAIN (a kick), true after an exit.
  bool run();

  kvm_regs get_regs() const;
  void set_regs(const kvm_regs& r);
  kvm_sregs get_sregs() const;
  void set_sregs(const kvm_sregs& s);
  void set_fpu(const kvm_fpu& f);
  void set_cpuid(const std::vector<kvm_cpuid_entry2>& entries);
  void set_msrs(const std::vector<std::pair<uint32_t, uint64_t>>& msrs);
  kvm_lapic_state get_lapic() const;
  void set_lapic(const kvm_lapic_state& s);
  kvm_mp_state get_mp_state() const;

  // The rest of a vCPU's state, for snapshots.
  kvm_fpu get_fpu() const;
  XsaveArea get_xsave() const;
  void set_xsave(const XsaveArea& x);
  kvm_xcrs get_xcrs() const;
  void set_xcrs(const kvm_xcrs& x);
  kvm_vcpu_events get_vcpu_events() const;
  void set_vcpu_events(const kvm_vcpu_events& e);
  void set_mp_state(const kvm_mp_state& s);
  kvm_debugregs get_debugregs() const;
  void set_debugregs(const kvm_debugregs& d);
  // Reads the MSRs in `indices`; an MSR KVM refuses to read is left out.
  std::vector<kvm_msr_entry> get_msrs(const std::vector<uint32_t>& indices) const;

 private:
  uint32_t id_;
  UniqueFd fd_;
  kvm_run* run_ = nullptr;
  size_t run_size_ = 0;
};

}  // namespace insula::kvm
