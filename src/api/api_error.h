// ApiError: a request the API refuses, with the HTTP status that says why.
// Handlers throw it; the router turns it into {"fault_message": ...}.
#pragma once

#include <fmt/format.h>

#include <stdexcept>
#include <string>

namespace insula::api {

class ApiError : public std::runtime_error {
 public:
  ApiError(int status, const std::string& message) : std::runtime_error(message), status_(status) {}
  int status() const { return status_; }

 private:
  int status_;
};

template <typename... Args>
ApiError bad_request(fmt::format_string<Args...> f, Args&&... args) {
  return ApiError(400, fmt::format(f, std::forward<Args>(args)...));
}

template <typename... Args>
ApiError conflict(fmt::format_string<Args...> f, Args&&... args) {
  return ApiError(409, fmt::format(f, std::forward<Args>(args)...));
}

}  // namespace insula::api
