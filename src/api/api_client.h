// ApiClient: a synchronous HTTP/1.1 client for a VMM's API socket (used by
// `insula vm` and the tests). One connection per call; calls time out.
#pragma once

#include <chrono>

#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace insula::api {

struct ApiReply {
  int status = 0;
  nlohmann::json body;  // null when the reply had no body
  std::string raw;      // the body as received
  std::string content_type;
  std::string allow;
  // The fault message of an error reply, or the raw body.
  std::string message() const;
};

class ApiClient {
 public:
  explicit ApiClient(std::string socket_path, std::chrono::milliseconds timeout = std::chrono::seconds(10))
      : path_(std::move(socket_path)), timeout_(timeout) {}

  // Throws Error when the socket cannot be reached or the reply is not HTTP.
  ApiReply call(const std::string& method, const std::string& target,
                const std::optional<nlohmann::json>& body = std::nullopt) const;
  // Same with a raw body (tests send broken JSON).
  ApiReply call_raw(const std::string& method, const std::string& target, const std::string& body) const;
  // call(), then throws Error with the fault message unless the status is 2xx.
  ApiReply expect_ok(const std::string& method, const std::string& target,
                     const std::optional<nlohmann::json>& body = std::nullopt) const;

 private:
  std::string path_;
  std::chrono::milliseconds timeout_;
};

}  // namespace insula::api
