// Guest RAM allocation.
#include "vmm/guest_ram.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysinfo.h>

#include <cstring>
#include <vector>

#include "base/error.h"
#include "base/fd.h"
#include "base/size.h"
#include "base/timing.h"

namespace insula::vmm {

namespace {
constexpr uint64_t kMinRam = 2 << 20;  // below that, nothing here boots
constexpr uint64_t k4GiB = 1ULL << 32;
// KVM maps a host huge page into the guest only where the guest-physical and
// host addresses agree modulo its size: guest RAM starts on a 2 MiB boundary
// (as QEMU aligns its RAM blocks); mmap alone gives 4 KiB alignment.
constexpr uint64_t kHugePage = 2ULL << 20;
}  // namespace

GuestRam::GuestRam(uint64_t size, uint64_t hole_start) : size_(size), low_(std::min(size, hole_start)) {
  check_size(size);
  map(-1);
}

GuestRam::GuestRam(uint64_t size, uint64_t hole_start, const std::string& memory_file)
    : size_(size), low_(std::min(size, hole_start)) {
  check_size(size);
  UniqueFd fd(open_memory_file(memory_file));
  file_backed_ = true;
  map(fd.get());
}

int GuestRam::open_memory_file(const std::string& memory_file) const {
  UniqueFd fd(::open(memory_file.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) throw errno_error(fmt::format("opening snapshot memory file {}", memory_file));
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) throw errno_error(fmt::format("stat {}", memory_file));
  if (static_cast<uint64_t>(st.st_size) != size_)
    throw error("snapshot memory file {} is {} bytes, the snapshot's machine has {} of RAM: the file is truncated or "
                "belongs to another snapshot",
                memory_file, st.st_size, format_size(size_));
  return fd.release();
}

void GuestRam::map_file(const std::string& memory_file) {
  UniqueFd fd(open_memory_file(memory_file));
  // MAP_FIXED replaces the anonymous pages (none touched) in place: KVM's
  // memory slots keep pointing at the same addresses and fault the file's
  // pages in from there.
  void* p = ::mmap(host_, size_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_NORESERVE | MAP_FIXED, fd.get(), 0);
  if (p == MAP_FAILED) throw errno_error(fmt::format("mapping snapshot memory file {}", memory_file));
  ::madvise(p, size_, MADV_DONTFORK);
  file_backed_ = true;
}

void GuestRam::check_size(uint64_t size) const {
  if (size < kMinRam) throw error("--memory {} is too small: a VM needs at least {}", format_size(size), format_size(kMinRam));
  if (size % 4096) throw error("--memory {} is not a whole number of 4 KiB pages", size);
  struct sysinfo si {};
  if (::sysinfo(&si) == 0) {
    uint64_t host = uint64_t{si.totalram} * si.mem_unit + uint64_t{si.totalswap} * si.mem_unit;
    if (size > host)
      throw error("--memory {} is more than this host has ({} of RAM and swap): ask for less", format_size(size),
                  format_size(host));
  }
}

void GuestRam::map(int fd) {
  // An address range of size_ + 2 MiB, trimmed to the aligned size_ inside it.
  void* r = ::mmap(nullptr, size_ + kHugePage, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (r == MAP_FAILED) throw errno_error(fmt::format("reserving {} of guest memory", format_size(size_)));
  auto base = reinterpret_cast<uintptr_t>(r);
  uintptr_t aligned = (base + kHugePage - 1) & ~(kHugePage - 1);
  if (aligned > base) ::munmap(r, aligned - base);
  ::munmap(reinterpret_cast<void*>(aligned + size_), base + kHugePage - aligned);
  int flags = MAP_PRIVATE | MAP_NORESERVE | MAP_FIXED | (fd < 0 ? MAP_ANONYMOUS : 0);
  void* p = ::mmap(reinterpret_cast<void*>(aligned), size_, PROT_READ | PROT_WRITE, flags, fd, 0);
  if (p == MAP_FAILED) {
    int err = errno;
    ::munmap(reinterpret_cast<void*>(aligned), size_);
    throw system_error(err, fmt::format("mapping {} of guest memory", format_size(size_)));
  }
  host_ = static_cast<uint8_t*>(p);
  // Guest RAM is best served by huge pages where the host has them.
  if (fd < 0) ::madvise(p, size_, MADV_HUGEPAGE);
  // A forked child (see fast_exit.h) must not copy the guest's page tables.
  ::madvise(p, size_, MADV_DONTFORK);
  memory_.add_region({0, low_, host_});
  if (size_ > low_) memory_.add_region({k4GiB, size_ - low_, host_ + low_});
}

namespace {
bool all_zero(const uint8_t* p, size_t n) {
  uint64_t acc = 0;
  for (size_t i = 0; i < n; i += 8) {
    uint64_t v;
    std::memcpy(&v, p + i, 8);
    acc |= v;
  }
  return acc == 0;
}
}  // namespace

void GuestRam::save(const std::string& path) const {
  constexpr size_t kPage = 4096;
  std::string tmp = path + ".tmp";
  // O_DIRECT: guest RAM goes from its pages to the disk, not through the
  // page cache. On a host whose page cache is full (the usual state), a
  // buffered write first has to reclaim as much cache as it writes, which
  // here ran at ~175 MB/s against ~1.5 GB/s direct (bench/README.md). RAM and
  // runs are page-aligned, as O_DIRECT asks; where the filesystem refuses it,
  // the write falls back to the page cache.
  UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_DIRECT, 0600));
  if (!fd && errno == EINVAL) fd.reset(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  if (!fd) throw errno_error(fmt::format("creating snapshot memory file {}", tmp));
  auto fail = [&](const char* what) {
    int err = errno;
    ::unlink(tmp.c_str());
    return system_error(err, fmt::format("{} snapshot memory file {}", what, tmp));
  };
  if (::ftruncate(fd.get(), static_cast<off_t>(size_)) != 0) throw fail("sizing");
  // Anonymous RAM the guest never touched is not resident: skip it without
  // reading it (reading would map every page). File-backed RAM (a restored
  // VM) must be read: its untouched pages hold the old snapshot's data.
  // (Only without swap: a swapped-out page is not resident either.)
  std::vector<unsigned char> resident;
  struct sysinfo si {};
  if (!file_backed_ && ::sysinfo(&si) == 0 && si.totalswap == 0) {
    resident.resize(size_ / kPage);
    if (::mincore(host_, size_, resident.data()) != 0) resident.assign(size_ / kPage, 1);
  }
  auto skip = [&](uint64_t o) { return (!resident.empty() && !(resident[o / kPage] & 1)) || all_zero(host_ + o, kPage); };
  // Runs of non-zero pages go out in one pwrite each.
  uint64_t off = 0;
  while (off < size_) {
    while (off < size_ && skip(off)) off += kPage;
    uint64_t end = off;
    while (end < size_ && end - off < (64u << 20) && !skip(end)) end += kPage;
    while (off < end) {
      ssize_t n = ::pwrite(fd.get(), host_ + off, end - off, static_cast<off_t>(off));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno == EINVAL && (::fcntl(fd.get(), F_GETFL) & O_DIRECT)) {
        // The filesystem takes O_DIRECT at open but not this write: buffered it is.
        if (::fcntl(fd.get(), F_SETFL, ::fcntl(fd.get(), F_GETFL) & ~O_DIRECT) != 0) throw fail("writing");
        continue;
      }
      if (n <= 0) throw fail("writing");
      off += static_cast<uint64_t>(n);
    }
  }
  timing::mark("snapshot: guest RAM written");
  if (::fsync(fd.get()) != 0) throw fail("syncing");
  timing::mark("snapshot: guest RAM synced");
  fd.reset();
  if (::rename(tmp.c_str(), path.c_str()) != 0) throw fail("renaming");
}

GuestRam::~GuestRam() {
  if (host_) ::munmap(host_, size_);
}

}  // namespace insula::vmm
