// VmLock: an exclusive flock on one VM's lock file, held while a verb
// changes that VM, so two CLIs cannot start (or start and remove) it at once.
// The kernel drops it if the CLI dies.
#pragma once

#include <string>

#include "base/fd.h"

namespace insula::manager {

class VmLock {
 public:
  explicit VmLock(const std::string& path);

 private:
  UniqueFd fd_;
};

}  // namespace insula::manager
