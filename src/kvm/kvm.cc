// KVM ioctl wrappers.
#include "kvm/kvm.h"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <memory>

#include "base/error.h"

namespace insula::kvm {

namespace {

bool path_exists(const char* p) {
  struct stat st;
  return ::stat(p, &st) == 0;
}

// linux/kvm.h declares its variable-length structs with __DECLARE_FLEX_ARRAY,
// which in C++ adds an empty member: sizeof() and the offset of the array
// differ from C, and so would the ioctl numbers built from them. These are
// the C layouts: a header, then the array at offset kArrayOffset.
struct VarHeader {
  uint32_t count;
  uint32_t pad;
};
constexpr size_t kArrayOffset = 8;  // cpuid2, msrs, irq_routing
constexpr unsigned long kGetSupportedCpuid = _IOC(_IOC_READ | _IOC_WRITE, KVMIO, 0x05, 8);
constexpr unsigned long kSetCpuid2 = _IOC(_IOC_WRITE, KVMIO, 0x90, 8);
constexpr unsigned long kGetMsrIndexList = _IOC(_IOC_READ | _IOC_WRITE, KVMIO, 0x02, 4);
constexpr unsigned long kSetMsrs = _IOC(_IOC_WRITE, KVMIO, 0x89, 8);
constexpr unsigned long kSetGsiRouting = _IOC(_IOC_WRITE, KVMIO, 0x6a, 8);
constexpr unsigned long kGetMsrs = _IOC(_IOC_READ | _IOC_WRITE, KVMIO, 0x88, 8);
constexpr unsigned long kGetXsave = _IOC(_IOC_READ, KVMIO, 0xa4, sizeof(XsaveArea));
constexpr unsigned long kSetXsave = _IOC(_IOC_WRITE, KVMIO, 0xa5, sizeof(XsaveArea));

template <typename Entry>
std::vector<uint8_t> var_buffer(uint32_t count, size_t array_offset = kArrayOffset) {
  std::vector<uint8_t> buf(array_offset + count * sizeof(Entry));
  std::memcpy(buf.data(), &count, sizeof count);
  return buf;
}

template <typename T>
void ioctl_or_throw(int fd, unsigned long req, T arg, const char* what) {
  if (::ioctl(fd, req, arg) < 0) throw errno_error(what);
}

}  // namespace

Backend detect_backend() {
  if (!path_exists("/dev/kvm")) return Backend::kNone;
  if (path_exists("/sys/module/kvm_pvm")) return Backend::kPvm;
  if (path_exists("/sys/module/kvm_intel")) return Backend::kIntel;
  if (path_exists("/sys/module/kvm_amd")) return Backend::kAmd;
  return Backend::kUnknown;
}

std::string backend_name(Backend b) {
  switch (b) {
    case Backend::kIntel: return "kvm_intel (VT-x)";
    case Backend::kAmd: return "kvm_amd (AMD-V)";
    case Backend::kPvm: return "kvm_pvm (software nested virtualization)";
    case Backend::kNone: return "none (no /dev/kvm)";
    case Backend::kUnknown: break;
  }
  return "unknown";
}

Kvm::Kvm() : fd_(::open("/dev/kvm", O_RDWR | O_CLOEXEC)) {
  if (!fd_) {
    int err = errno;
    if (err == ENOENT)
      throw Error("/dev/kvm does not exist: load the kvm module (kvm_intel or kvm_amd) or enable virtualization in the firmware");
    if (err == EACCES || err == EPERM)
      throw Error("permission denied opening /dev/kvm: run as root or add your user to the 'kvm' group");
    throw system_error(err, "opening /dev/kvm");
  }
  int version = ::ioctl(fd_.get(), KVM_GET_API_VERSION, 0);
  if (version != KVM_API_VERSION) throw error("/dev/kvm speaks KVM API version {}, insula needs {}", version, KVM_API_VERSION);
  require(KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY");
  require(KVM_CAP_IRQCHIP, "KVM_CAP_IRQCHIP");
  require(KVM_CAP_EXT_CPUID, "KVM_CAP_EXT_CPUID");
  require(KVM_CAP_SET_TSS_ADDR, "KVM_CAP_SET_TSS_ADDR");
  require(KVM_CAP_PIT2, "KVM_CAP_PIT2");
  require(KVM_CAP_IOEVENTFD, "KVM_CAP_IOEVENTFD");
  require(KVM_CAP_IRQFD, "KVM_CAP_IRQFD");
  require(KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT");
}

int Kvm::check_extension(long cap) const { return ::ioctl(fd_.get(), KVM_CHECK_EXTENSION, cap); }

void Kvm::require(long cap, const char* name) const {
  if (check_extension(cap) <= 0)
    throw error("this host's KVM lacks the capability {} that insula needs: use a newer kernel", name);
}

int Kvm::vcpu_mmap_size() const {
  int n = ::ioctl(fd_.get(), KVM_GET_VCPU_MMAP_SIZE, 0);
  if (n <= 0) throw errno_error("KVM_GET_VCPU_MMAP_SIZE");
  return n;
}

const std::vector<kvm_cpuid_entry2>& Kvm::supported_cpuid() const {
  std::call_once(cpuid_once_, [this] { cpuid_ = query_supported_cpuid(); });
  return cpuid_;
}

const std::vector<uint32_t>& Kvm::msr_index_list() const {
  std::call_once(msrs_once_, [this] { msrs_ = query_msr_index_list(); });
  return msrs_;
}

std::vector<kvm_cpuid_entry2> Kvm::query_supported_cpuid() const {
  for (uint32_t n = 128; n <= 4096; n *= 2) {
    auto buf = var_buffer<kvm_cpuid_entry2>(n);
    if (::ioctl(fd_.get(), kGetSupportedCpuid, buf.data()) == 0) {
      uint32_t got;
      std::memcpy(&got, buf.data(), sizeof got);
      std::vector<kvm_cpuid_entry2> out(std::min(got, n));
      std::memcpy(out.data(), buf.data() + kArrayOffset, out.size() * sizeof(kvm_cpuid_entry2));
      return out;
    }
    if (errno != E2BIG) throw errno_error("KVM_GET_SUPPORTED_CPUID");
  }
  throw Error("KVM_GET_SUPPORTED_CPUID: too many entries");
}

std::vector<uint32_t> Kvm::query_msr_index_list() const {
  uint32_t n = 0;
  ::ioctl(fd_.get(), kGetMsrIndexList, &n);  // E2BIG, fills in the count
  auto buf = var_buffer<uint32_t>(n, 4);
  ioctl_or_throw(fd_.get(), kGetMsrIndexList, buf.data(), "KVM_GET_MSR_INDEX_LIST");
  std::memcpy(&n, buf.data(), sizeof n);
  std::vector<uint32_t> out(n);
  std::memcpy(out.data(), buf.data() + 4, n * sizeof(uint32_t));
  return out;
}

Vm::Vm(const Kvm& kvm) {
  int fd;
  do {
    fd = ::ioctl(kvm.fd(), KVM_CREATE_VM, 0);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) throw errno_error("KVM_CREATE_VM");
  fd_.reset(fd);
}

void Vm::set_user_memory_region(uint32_t slot, uint64_t gpa, uint64_t size, void* host, uint32_t flags) {
  kvm_userspace_memory_region r{};
  r.slot = slot;
  r.flags = flags;
  r.guest_phys_addr = gpa;
  r.memory_size = size;
  r.userspace_addr = reinterpret_cast<uint64_t>(host);
  if (::ioctl(fd_.get(), KVM_SET_USER_MEMORY_REGION, &r) < 0)
    throw errno_error(fmt::format("mapping guest memory {:#x}+{:#x} (KVM_SET_USER_MEMORY_REGION)", gpa, size));
}

void Vm::set_tss_addr(uint64_t addr) { ioctl_or_throw(fd_.get(), KVM_SET_TSS_ADDR, addr, "KVM_SET_TSS_ADDR"); }

void Vm::set_identity_map_addr(uint64_t addr) {
  ioctl_or_throw(fd_.get(), KVM_SET_IDENTITY_MAP_ADDR, &addr, "KVM_SET_IDENTITY_MAP_ADDR");
}

void Vm::create_irqchip() { ioctl_or_throw(fd_.get(), KVM_CREATE_IRQCHIP, 0, "KVM_CREATE_IRQCHIP"); }

void Vm::create_pit2() {
  kvm_pit_config pit{};
  pit.flags = KVM_PIT_SPEAKER_DUMMY;
  ioctl_or_throw(fd_.get(), KVM_CREATE_PIT2, &pit, "KVM_CREATE_PIT2");
}

void Vm::set_irq_line(uint32_t irq, bool level) {
  kvm_irq_level l{};
  l.irq = irq;
  l.level = level ? 1 : 0;
  ioctl_or_throw(fd_.get(), KVM_IRQ_LINE, &l, "KVM_IRQ_LINE");
}

void Vm::signal_msi(uint64_t address, uint32_t data) {
  kvm_msi msi{};
  msi.address_lo = static_cast<uint32_t>(address);
  msi.address_hi = static_cast<uint32_t>(address >> 32);
  msi.data = data;
  if (::ioctl(fd_.get(), KVM_SIGNAL_MSI, &msi) < 0) throw errno_error("KVM_SIGNAL_MSI");
}

void Vm::set_gsi_routing(const std::vector<kvm_irq_routing_entry>& entries) {
  auto buf = var_buffer<kvm_irq_routing_entry>(static_cast<uint32_t>(entries.size()));
  std::memcpy(buf.data() + kArrayOffset, entries.data(), entries.size() * sizeof(kvm_irq_routing_entry));
  ioctl_or_throw(fd_.get(), kSetGsiRouting, buf.data(), "KVM_SET_GSI_ROUTING");
}

void Vm::irqfd(int eventfd, uint32_t gsi, bool deassign) {
  kvm_irqfd f{};
  f.fd = static_cast<uint32_t>(eventfd);
  f.gsi = gsi;
  f.flags = deassign ? KVM_IRQFD_FLAG_DEASSIGN : 0;
  ioctl_or_throw(fd_.get(), KVM_IRQFD, &f, "KVM_IRQFD");
}

void Vm::ioeventfd(int eventfd, uint64_t addr, uint32_t len, bool pio, bool deassign) {
  kvm_ioeventfd e{};
  e.addr = addr;
  e.len = len;
  e.fd = eventfd;
  e.flags = (pio ? KVM_IOEVENTFD_FLAG_PIO : 0) | (deassign ? KVM_IOEVENTFD_FLAG_DEASSIGN : 0);
  ioctl_or_throw(fd_.get(), KVM_IOEVENTFD, &e, "KVM_IOEVENTFD");
}

void Vm::set_clock(uint64_t ns) {
  kvm_clock_data c{};
  c.clock = ns;
  ioctl_or_throw(fd_.get(), KVM_SET_CLOCK, &c, "KVM_SET_CLOCK");
}

kvm_irqchip Vm::get_irqchip(uint32_t chip) const {
  kvm_irqchip c{};
  c.chip_id = chip;
  ioctl_or_throw(fd_.get(), KVM_GET_IRQCHIP, &c, "KVM_GET_IRQCHIP");
  return c;
}
void Vm::set_irqchip(const kvm_irqchip& c) { ioctl_or_throw(fd_.get(), KVM_SET_IRQCHIP, &c, "KVM_SET_IRQCHIP"); }
kvm_pit_state2 Vm::get_pit2() const {
  kvm_pit_state2 s{};
  ioctl_or_throw(fd_.get(), KVM_GET_PIT2, &s, "KVM_GET_PIT2");
  return s;
}
void Vm::set_pit2(const kvm_pit_state2& s) { ioctl_or_throw(fd_.get(), KVM_SET_PIT2, &s, "KVM_SET_PIT2"); }
kvm_clock_data Vm::get_clock() const {
  kvm_clock_data c{};
  ioctl_or_throw(fd_.get(), KVM_GET_CLOCK, &c, "KVM_GET_CLOCK");
  return c;
}
void Vm::set_clock(const kvm_clock_data& c) { ioctl_or_throw(fd_.get(), KVM_SET_CLOCK, &c, "KVM_SET_CLOCK"); }

Vcpu::Vcpu(const Kvm& kvm, const Vm& vm, uint32_t id) : id_(id) {
  int fd = ::ioctl(vm.fd(), KVM_CREATE_VCPU, static_cast<unsigned long>(id));
  if (fd < 0) throw errno_error(fmt::format("creating vCPU {} (KVM_CREATE_VCPU)", id));
  fd_.reset(fd);
  run_size_ = static_cast<size_t>(kvm.vcpu_mmap_size());
  void* p = ::mmap(nullptr, run_size_, PROT_READ | PROT_WRITE, MAP_SHARED, fd_.get(), 0);
  if (p == MAP_FAILED) throw errno_error("mapping the vCPU run structure");
  run_ = static_cast<kvm_run*>(p);
}

Vcpu::~Vcpu() {
  if (run_) ::munmap(run_, run_size_);
}

bool Vcpu::run() {
  if (::ioctl(fd_.get(), KVM_RUN, 0) < 0) {
    if (errno == EINTR || errno == EAGAIN) return false;
    throw errno_error(fmt::format("KVM_RUN on vCPU {}", id_));
  }
  return true;
}

kvm_regs Vcpu::get_regs() const {
  kvm_regs r{};
  ioctl_or_throw(fd_.get(), KVM_GET_REGS, &r, "KVM_GET_REGS");
  return r;
}
void Vcpu::set_regs(const kvm_regs& r) { ioctl_or_throw(fd_.get(), KVM_SET_REGS, &r, "KVM_SET_REGS"); }
kvm_sregs Vcpu::get_sregs() const {
  kvm_sregs s{};
  ioctl_or_throw(fd_.get(), KVM_GET_SREGS, &s, "KVM_GET_SREGS");
  return s;
}
void Vcpu::set_sregs(const kvm_sregs& s) { ioctl_or_throw(fd_.get(), KVM_SET_SREGS, &s, "KVM_SET_SREGS"); }
void Vcpu::set_fpu(const kvm_fpu& f) { ioctl_or_throw(fd_.get(), KVM_SET_FPU, &f, "KVM_SET_FPU"); }

void Vcpu::set_cpuid(const std::vector<kvm_cpuid_entry2>& entries) {
  auto buf = var_buffer<kvm_cpuid_entry2>(static_cast<uint32_t>(entries.size()));
  std::memcpy(buf.data() + kArrayOffset, entries.data(), entries.size() * sizeof(kvm_cpuid_entry2));
  ioctl_or_throw(fd_.get(), kSetCpuid2, buf.data(), "KVM_SET_CPUID2");
}

void Vcpu::set_msrs(const std::vector<std::pair<uint32_t, uint64_t>>& msrs) {
  auto buf = var_buffer<kvm_msr_entry>(static_cast<uint32_t>(msrs.size()));
  for (size_t i = 0; i < msrs.size(); ++i) {
    kvm_msr_entry e{};
    e.index = msrs[i].first;
    e.data = msrs[i].second;
    std::memcpy(buf.data() + kArrayOffset + i * sizeof e, &e, sizeof e);
  }
  int n = ::ioctl(fd_.get(), kSetMsrs, buf.data());
  if (n < 0) throw errno_error("KVM_SET_MSRS");
  if (static_cast<size_t>(n) != msrs.size())
    throw error("KVM_SET_MSRS: MSR {:#x} was refused by KVM", msrs[static_cast<size_t>(n)].first);
}

kvm_lapic_state Vcpu::get_lapic() const {
  kvm_lapic_state s{};
  ioctl_or_throw(fd_.get(), KVM_GET_LAPIC, &s, "KVM_GET_LAPIC");
  return s;
}
void Vcpu::set_lapic(const kvm_lapic_state& s) { ioctl_or_throw(fd_.get(), KVM_SET_LAPIC, &s, "KVM_SET_LAPIC"); }

kvm_mp_state Vcpu::get_mp_state() const {
  kvm_mp_state s{};
  ioctl_or_throw(fd_.get(), KVM_GET_MP_STATE, &s, "KVM_GET_MP_STATE");
  return s;
}

kvm_fpu Vcpu::get_fpu() const {
  kvm_fpu f{};
  ioctl_or_throw(fd_.get(), KVM_GET_FPU, &f, "KVM_GET_FPU");
  return f;
}
XsaveArea Vcpu::get_xsave() const {
  XsaveArea x{};
  ioctl_or_throw(fd_.get(), kGetXsave, &x, "KVM_GET_XSAVE");
  return x;
}
void Vcpu::set_xsave(const XsaveArea& x) { ioctl_or_throw(fd_.get(), kSetXsave, &x, "KVM_SET_XSAVE"); }
kvm_xcrs Vcpu::get_xcrs() const {
  kvm_xcrs x{};
  ioctl_or_throw(fd_.get(), KVM_GET_XCRS, &x, "KVM_GET_XCRS");
  return x;
}
void Vcpu::set_xcrs(const kvm_xcrs& x) { ioctl_or_throw(fd_.get(), KVM_SET_XCRS, &x, "KVM_SET_XCRS"); }
kvm_vcpu_events Vcpu::get_vcpu_events() const {
  kvm_vcpu_events e{};
  ioctl_or_throw(fd_.get(), KVM_GET_VCPU_EVENTS, &e, "KVM_GET_VCPU_EVENTS");
  return e;
}
void Vcpu::set_vcpu_events(const kvm_vcpu_events& e) {
  ioctl_or_throw(fd_.get(), KVM_SET_VCPU_EVENTS, &e, "KVM_SET_VCPU_EVENTS");
}
void Vcpu::set_mp_state(const kvm_mp_state& s) { ioctl_or_throw(fd_.get(), KVM_SET_MP_STATE, &s, "KVM_SET_MP_STATE"); }
kvm_debugregs Vcpu::get_debugregs() const {
  kvm_debugregs d{};
  ioctl_or_throw(fd_.get(), KVM_GET_DEBUGREGS, &d, "KVM_GET_DEBUGREGS");
  return d;
}
void Vcpu::set_debugregs(const kvm_debugregs& d) {
  ioctl_or_throw(fd_.get(), KVM_SET_DEBUGREGS, &d, "KVM_SET_DEBUGREGS");
}

std::vector<kvm_msr_entry> Vcpu::get_msrs(const std::vector<uint32_t>& indices) const {
  // KVM_GET_MSRS stops at the first MSR it cannot read and returns how many
  // it read: keep those, skip the refused one, ask again for the rest.
  std::vector<kvm_msr_entry> out;
  size_t next = 0;
  while (next < indices.size()) {
    auto count = static_cast<uint32_t>(indices.size() - next);
    auto buf = var_buffer<kvm_msr_entry>(count);
    for (uint32_t i = 0; i < count; ++i) {
      kvm_msr_entry e{};
      e.index = indices[next + i];
      std::memcpy(buf.data() + kArrayOffset + i * sizeof e, &e, sizeof e);
    }
    int n = ::ioctl(fd_.get(), kGetMsrs, buf.data());
    if (n < 0) throw errno_error("KVM_GET_MSRS");
    for (int i = 0; i < n; ++i) {
      kvm_msr_entry e;
      std::memcpy(&e, buf.data() + kArrayOffset + static_cast<size_t>(i) * sizeof e, sizeof e);
      out.push_back(e);
    }
    next += static_cast<size_t>(n) + 1;  // past the one KVM refused
  }
  return out;
}

}  // namespace insula::kvm
