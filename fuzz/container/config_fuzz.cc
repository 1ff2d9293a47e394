// Fuzzes config.json parsing (and, for configs that parse, the mount option
// and seccomp validation create runs): anything but insula::Error is a bug.
#include <cstddef>
#include <cstdint>
#include <string>

#include "base/error.h"
#include "container/config.h"
#include "container/mounts.h"
#include "container/security.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  try {
    auto c = insula::container::parse_config(text, "/bundle");
    for (const auto& m : c.mounts) {
      try {
        insula::container::parse_mount_options(m.options);
      } catch (const insula::Error&) {
      }
    }
    if (c.seccomp) insula::container::check_seccomp(*c.seccomp);
  } catch (const insula::Error&) {
  }
  return 0;
}
