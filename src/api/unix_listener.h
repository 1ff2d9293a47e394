// Binding a unix stream socket for the VMM's servers: refuses a path that is
// too long or that another live process is serving, replaces a stale one,
// and is reachable by its owner only.
#pragma once

#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>

namespace insula::api {

boost::asio::local::stream_protocol::acceptor listen_unix(boost::asio::io_context& io, const std::string& path);

}  // namespace insula::api
