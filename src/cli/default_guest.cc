// Choosing and locating the default guest.
#include "cli/default_guest.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include "base/error.h"
#include "kvm/kvm.h"

extern "C" {
// The demo guest, linked into the binary (guests/demo, see guests/CMakeLists.txt).
extern const unsigned char insula_demo_guest_start[];
extern const unsigned char insula_demo_guest_end[];
}

namespace insula::cli {

namespace {

namespace fs = std::filesystem;

// The appliance directory: $INSULA_APPLIANCE_DIR, else the one the build
// prepared (.cache/appliance in the source tree).
std::string appliance_dir() {
  if (const char* d = std::getenv("INSULA_APPLIANCE_DIR")) return d;
  return INSULA_DEFAULT_APPLIANCE_DIR;
}

// The embedded demo as a file the loader can map: a sealed memfd.
std::string embedded_demo_path() {
  size_t size = static_cast<size_t>(insula_demo_guest_end - insula_demo_guest_start);
  if (size == 0) throw Error("this build of insula has no embedded demo guest");
  int fd = ::memfd_create("insula-demo-guest", MFD_CLOEXEC);
  if (fd < 0) throw errno_error("creating the demo guest file");
  if (::write(fd, insula_demo_guest_start, size) != static_cast<ssize_t>(size)) throw errno_error("writing the demo guest");
  // Kept open for the life of the process: its /proc path is the kernel path.
  return fmt::format("/proc/self/fd/{}", fd);
}

}  // namespace

std::optional<DefaultGuest> linux_appliance(std::string* missing_notice) {
  fs::path dir = appliance_dir();
  if (fs::exists(dir / "vmlinuz") && fs::exists(dir / "initramfs.cpio.gz"))
    return DefaultGuest{(dir / "vmlinuz").string(), (dir / "initramfs.cpio.gz").string(), "console=ttyS0 panic=-1 quiet", {}};
  if (missing_notice)
    *missing_notice = fmt::format("no Linux appliance in {} (run scripts/prepare.d/30-appliance.sh)", dir.string());
  return std::nullopt;
}

DefaultGuest choose_default_guest() {
  auto backend = kvm::detect_backend();
  std::string missing;
  auto appliance = linux_appliance(&missing);
  if (backend != kvm::Backend::kPvm && appliance) return *appliance;
  DefaultGuest g;
  g.kernel = embedded_demo_path();
  g.cmdline = "";
  if (backend == kvm::Backend::kPvm)
    g.notice =
        "this host's /dev/kvm is PVM, which cannot run unmodified Linux: booting the built-in demo guest instead";
  else
    g.notice = missing + ": booting the built-in demo guest";
  return g;
}

}  // namespace insula::cli
