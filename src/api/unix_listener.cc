// listen_unix: see unix_listener.h.
#include "api/unix_listener.h"

#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "base/error.h"

namespace insula::api {

namespace asio = boost::asio;
using local = asio::local::stream_protocol;

local::acceptor listen_unix(asio::io_context& io, const std::string& path) {
  if (path.size() >= sizeof(sockaddr_un::sun_path))
    throw error("socket path {} is longer than {} bytes: use a shorter state directory", path,
                sizeof(sockaddr_un::sun_path) - 1);
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) throw error("{} exists and is not a socket: remove it or choose another path", path);
    boost::system::error_code ec;
    local::socket probe(io);
    probe.connect(local::endpoint(path), ec);
    if (!ec) throw error("{} is already served by another process", path);
    ::unlink(path.c_str());  // stale: its server is gone
  }
  mode_t old = ::umask(0077);
  local::acceptor acceptor(io);
  boost::system::error_code ec;
  acceptor.open(local::endpoint(path).protocol(), ec);
  if (!ec) acceptor.bind(local::endpoint(path), ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  ::umask(old);
  if (ec) throw error("cannot listen on {}: {}", path, ec.message());
  return acceptor;
}

}  // namespace insula::api
