// The one error strategy of insula (see docs/architecture.md, "Errors").
//
// Setup and user-facing operations throw insula::Error; the message says what
// failed, on what, and (where there is one) what to do. The CLI catches it at
// the top and prints one line. Code that handles guest-controlled input never
// throws for guest misbehaviour: it logs, ignores or flags the device instead.
#pragma once

#include <fmt/format.h>

#include <stdexcept>
#include <string>

namespace insula {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

// Formats an Error message.
template <typename... Args>
Error error(fmt::format_string<Args...> f, Args&&... args) {
  return Error(fmt::format(f, std::forward<Args>(args)...));
}

// An Error for a failed system call: the message plus ": " and strerror(err).
Error system_error(int err, const std::string& what);

// Same, with errno.
Error errno_error(const std::string& what);

// Adds context in front of an Error's message while it travels up.
[[noreturn]] void rethrow_with_context(const std::string& context);

}  // namespace insula
