// Error construction helpers.
#include "base/error.h"

#include <cerrno>
#include <cstring>

namespace insula {

Error system_error(int err, const std::string& what) {
  return Error(what + ": " + std::strerror(err));
}

Error errno_error(const std::string& what) { return system_error(errno, what); }

void rethrow_with_context(const std::string& context) {
  try {
    throw;
  } catch (const std::exception& e) {
    throw Error(context + ": " + e.what());
  }
}

}  // namespace insula
