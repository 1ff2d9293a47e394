// The guest `insula run` boots when no --kernel is given: the Linux appliance
// on hosts whose KVM runs unmodified kernels, else the built-in demo guest.
#pragma once

#include <optional>
#include <string>

namespace insula::cli {

struct DefaultGuest {
  std::string kernel, initrd, cmdline;
  std::string notice;  // one line for the user, or empty
};

// Throws Error when neither is available.
DefaultGuest choose_default_guest();

// The Linux appliance ($INSULA_APPLIANCE_DIR, else the one the build
// prepared), whatever this host's KVM can run; nullopt when it is not there.
// Its notice says where it was looked for when it is missing.
std::optional<DefaultGuest> linux_appliance(std::string* missing_notice = nullptr);

}  // namespace insula::cli
