// HttpServer: the Beast sessions behind the API socket.
#include "api/http_server.h"

#include <unistd.h>

#include <array>
#include <memory>
#include <optional>

#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include "api/unix_listener.h"

namespace insula::api {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using local = asio::local::stream_protocol;

namespace {

constexpr size_t kBodyLimit = 64 * 1024;

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(local::socket sock, const Router& router, uint64_t& requests)
      : sock_(std::move(sock)), router_(router), requests_(requests) {}

  void read() {
    parser_.emplace();
    parser_->body_limit(kBodyLimit);
    http::async_read(sock_, buffer_, *parser_,
                     [self = shared_from_this()](beast::error_code ec, size_t) { self->on_read(ec); });
  }

 private:
  void on_read(beast::error_code ec) {
    if (ec == http::error::end_of_stream || ec == asio::error::eof || ec == asio::error::connection_reset) return;
    if (ec) {
      // Malformed or oversized: answer once, then close.
      int status = ec == http::error::body_limit ? 413 : 400;
      draining_ = true;
      send(fault(status, "malformed HTTP request: " + ec.message()), false, 11);
      return;
    }
    ++requests_;
    auto& req = parser_->get();
    std::string target(req.target());
    Request r{std::string(req.method_string()), target.substr(0, target.find('?')), req.body()};
    send(router_.handle(r), req.keep_alive(), req.version());
  }

  void send(Response r, bool keep_alive, unsigned version) {
    res_ = {};
    res_.version(version);
    res_.result(static_cast<http::status>(r.status));
    res_.set(http::field::server, "insula");
    if (r.body) {
      res_.set(http::field::content_type, "application/json");
      res_.body() = r.body->dump();
    }
    if (!r.allow.empty()) res_.set(http::field::allow, r.allow);
    res_.keep_alive(keep_alive);
    res_.prepare_payload();
    after_ = std::move(r.after_sent);
    http::async_write(sock_, res_, [self = shared_from_this(), keep_alive](beast::error_code ec, size_t) {
      if (self->after_) std::exchange(self->after_, nullptr)();
      if (!ec && keep_alive) {
        self->read();
      } else if (!ec && self->draining_) {
        // A request we refused may still be arriving: closing a unix socket
        // with unread data resets the peer, which could then lose our answer.
        // Stop sending, read the rest away (bounded), and only then close.
        beast::error_code ignored;
        self->sock_.shutdown(local::socket::shutdown_send, ignored);
        self->drain();
      } else {
        beast::error_code ignored;
        self->sock_.shutdown(local::socket::shutdown_both, ignored);
      }
    });
  }

  void drain() {
    if (drained_ > kDrainLimit) return;  // a peer that never stops: just close
    sock_.async_read_some(asio::buffer(drain_buf_), [self = shared_from_this()](beast::error_code ec, size_t n) {
      self->drained_ += n;
      if (!ec) self->drain();
    });
  }
  static constexpr size_t kDrainLimit = 16 << 20;
  bool draining_ = false;
  size_t drained_ = 0;
  std::array<char, 16384> drain_buf_{};

  local::socket sock_;
  const Router& router_;
  uint64_t& requests_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  http::response<http::string_body> res_;
  std::function<void()> after_;
};

}  // namespace

HttpServer::HttpServer(asio::io_context& io, const std::string& socket_path, const Router& router)
    : path_(socket_path), router_(router), acceptor_(listen_unix(io, socket_path)) {
  accept();
}

HttpServer::~HttpServer() { close(); }

void HttpServer::close() {
  if (!acceptor_.is_open()) return;
  beast::error_code ignored;
  acceptor_.close(ignored);
  ::unlink(path_.c_str());
}

void HttpServer::accept() {
  acceptor_.async_accept([this](beast::error_code ec, local::socket sock) {
    if (ec == asio::error::operation_aborted) return;
    if (!ec) std::make_shared<Session>(std::move(sock), router_, requests_)->read();
    if (acceptor_.is_open()) accept();
  });
}

}  // namespace insula::api
