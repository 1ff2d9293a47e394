// ApiClient: Beast's synchronous client over a unix socket.
#include "api/api_client.h"

#include <sys/socket.h>
#include <sys/time.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include "base/error.h"

namespace insula::api {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using local = asio::local::stream_protocol;

std::string ApiReply::message() const {
  if (body.is_object() && body.contains("fault_message") && body["fault_message"].is_string())
    return body["fault_message"].get<std::string>();
  return raw;
}

ApiReply ApiClient::call_raw(const std::string& method, const std::string& target, const std::string& body) const {
  asio::io_context io;
  local::socket sock(io);
  beast::error_code ec;
  sock.connect(local::endpoint(path_), ec);
  if (ec) throw error("cannot reach the VMM's API at {}: {}", path_, ec.message());
  // Blocking calls with kernel timeouts: a hung VMM cannot hang the CLI.
  timeval tv{static_cast<time_t>(timeout_.count() / 1000), static_cast<suseconds_t>(timeout_.count() % 1000 * 1000)};
  ::setsockopt(sock.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(sock.native_handle(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);

  http::request<http::string_body> req{http::string_to_verb(method), target, 11};
  req.set(http::field::host, "localhost");
  req.keep_alive(false);
  if (!body.empty()) {
    req.set(http::field::content_type, "application/json");
    req.body() = body;
  }
  req.prepare_payload();
  http::write(sock, req, ec);
  if (ec) throw error("sending {} {} to {}: {}", method, target, path_, ec.message());
  beast::flat_buffer buf;
  http::response<http::string_body> res;
  http::read(sock, buf, res, ec);
  if (ec && ec != http::error::end_of_stream) throw error("reading the reply to {} {} from {}: {}", method, target, path_, ec.message());

  ApiReply r;
  r.status = res.result_int();
  r.raw = res.body();
  r.content_type = std::string(res[http::field::content_type]);
  r.allow = std::string(res[http::field::allow]);
  if (!r.raw.empty()) {
    r.body = nlohmann::json::parse(r.raw, nullptr, false);
    if (r.body.is_discarded()) throw error("the VMM at {} answered {} {} with a body that is not JSON", path_, method, target);
  }
  return r;
}

ApiReply ApiClient::call(const std::string& method, const std::string& target,
                         const std::optional<nlohmann::json>& body) const {
  return call_raw(method, target, body ? body->dump() : std::string());
}

ApiReply ApiClient::expect_ok(const std::string& method, const std::string& target,
                              const std::optional<nlohmann::json>& body) const {
  ApiReply r = call(method, target, body);
  if (r.status < 200 || r.status >= 300) throw error("{} {}: {} ({})", method, target, r.message(), r.status);
  return r;
}

}  // namespace insula::api
