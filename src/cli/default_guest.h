// The guest `insula run` boots when no --kernel is given: the Linux appliance
// on hosts whose KVM runs unmodified kernels, else the built-in demo guest.
#pragma once

#include <string>

namespace insula::cli {

struct DefaultGuest {
  std::string kernel, initrd, cmdline;
  std::string notice;  // one line for the user, or empty
};

// Throws Error when neither is available.
DefaultGuest choose_default_guest();

}  // namespace insula::cli
