// HttpServer: serves a Router over HTTP/1.1 on a unix socket with
// Boost.Beast, asynchronously on the caller's io_context (one thread).
// Bodies are limited to 64 KiB; malformed requests get 400 and the
// connection is closed.
#pragma once

#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>

#include "api/router.h"

namespace insula::api {

class HttpServer {
 public:
  HttpServer(boost::asio::io_context& io, const std::string& socket_path, const Router& router);
  ~HttpServer();
  void close();  // stops accepting and removes the socket file
  uint64_t requests() const { return requests_; }

 private:
  void accept();

  std::string path_;
  const Router& router_;
  boost::asio::local::stream_protocol::acceptor acceptor_;
  uint64_t requests_ = 0;
};

}  // namespace insula::api
