// Guest RAM allocation.
#include "vmm/guest_ram.h"

#include <sys/mman.h>
#include <sys/sysinfo.h>

#include "base/error.h"
#include "base/size.h"

namespace insula::vmm {

namespace {
constexpr uint64_t kMinRam = 2 << 20;  // below that, nothing here boots
constexpr uint64_t k4GiB = 1ULL << 32;
}  // namespace

GuestRam::GuestRam(uint64_t size, uint64_t hole_start) : size_(size) {
  if (size < kMinRam) throw error("--memory {} is too small: a VM needs at least {}", format_size(size), format_size(kMinRam));
  if (size % 4096) throw error("--memory {} is not a whole number of 4 KiB pages", size);
  struct sysinfo si {};
  if (::sysinfo(&si) == 0) {
    uint64_t host = uint64_t{si.totalram} * si.mem_unit + uint64_t{si.totalswap} * si.mem_unit;
    if (size > host)
      throw error("--memory {} is more than this host has ({} of RAM and swap): ask for less", format_size(size),
                  format_size(host));
  }
  low_ = std::min(size, hole_start);
  void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) throw errno_error(fmt::format("reserving {} of guest memory", format_size(size)));
  host_ = static_cast<uint8_t*>(p);
  // Guest RAM is best served by huge pages where the host has them.
  ::madvise(p, size, MADV_HUGEPAGE);
  // A forked child (see fast_exit.h) must not copy the guest's page tables.
  ::madvise(p, size, MADV_DONTFORK);
  memory_.add_region({0, low_, host_});
  if (size > low_) memory_.add_region({k4GiB, size - low_, host_ + low_});
}

GuestRam::~GuestRam() {
  if (host_) ::munmap(host_, size_);
}

}  // namespace insula::vmm
