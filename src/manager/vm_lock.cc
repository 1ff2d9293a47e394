// VmLock: see vm_lock.h.
#include "manager/vm_lock.h"

#include <fcntl.h>
#include <sys/file.h>

#include "base/error.h"

namespace insula::manager {

VmLock::VmLock(const std::string& path) : fd_(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600)) {
  if (!fd_) throw errno_error(fmt::format("cannot open the lock file {}", path));
  while (::flock(fd_.get(), LOCK_EX) != 0) {
    if (errno != EINTR) throw errno_error(fmt::format("cannot lock {}", path));
  }
}

}  // namespace insula::manager
