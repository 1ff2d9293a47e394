// Console socket protocol, as runc and conmon speak it.
#include "container/console.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include <cstring>

#include "base/error.h"

namespace insula::container {

UniqueFd connect_console_socket(const std::string& path) {
  UniqueFd s(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!s) throw errno_error("socket");
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) throw error("console socket path {} is too long", path);
  std::strcpy(addr.sun_path, path.c_str());
  if (::connect(s.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
    throw errno_error(fmt::format("connect to console socket {}", path));
  return s;
}

void send_fd(int socket, int fd, const std::string& name) {
  char cbuf[CMSG_SPACE(sizeof(int))] = {};
  std::string payload = name.empty() ? std::string("/dev/ptmx") : name;
  iovec iov{payload.data(), payload.size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = cbuf;
  msg.msg_controllen = sizeof cbuf;
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  std::memcpy(CMSG_DATA(c), &fd, sizeof(int));
  if (::sendmsg(socket, &msg, MSG_NOSIGNAL) < 0) throw errno_error(fmt::format("send file descriptor ({}) over a socket", payload));
}

UniqueFd receive_fd(int socket) {
  std::string data;
  UniqueFd fd = receive_fd_message(socket, &data);
  if (!fd) throw error("console socket: no file descriptor received");
  return fd;
}

UniqueFd receive_fd_message(int socket, std::string* text) {
  char cbuf[CMSG_SPACE(sizeof(int))] = {};
  char data[8192];
  iovec iov{data, sizeof data};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = cbuf;
  msg.msg_controllen = sizeof cbuf;
  ssize_t n;
  do {
    n = ::recvmsg(socket, &msg, MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  if (n < 0) throw errno_error("receive a file descriptor");
  text->assign(data, static_cast<size_t>(n));
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  if (!c || c->cmsg_type != SCM_RIGHTS) return UniqueFd();
  int fd;
  std::memcpy(&fd, CMSG_DATA(c), sizeof fd);
  return UniqueFd(fd);
}

void setup_console(int socket, std::optional<std::pair<unsigned, unsigned>> size) {
  UniqueFd master(::open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC));
  if (!master) throw errno_error("open /dev/ptmx in the container (is /dev/pts mounted?)");
  if (::unlockpt(master.get()) != 0) throw errno_error("unlockpt");
  char name[256];
  if (::ptsname_r(master.get(), name, sizeof name) != 0) throw errno_error("ptsname");
  UniqueFd slave(::open(name, O_RDWR | O_NOCTTY | O_CLOEXEC));
  if (!slave) throw errno_error(fmt::format("open {}", name));
  if (size) {
    winsize ws{};
    ws.ws_row = static_cast<unsigned short>(size->first);
    ws.ws_col = static_cast<unsigned short>(size->second);
    ::ioctl(master.get(), TIOCSWINSZ, &ws);
  }
  send_fd(socket, master.get(), name);
  master.reset();
  if (::setsid() < 0) throw errno_error("setsid");
  if (::ioctl(slave.get(), TIOCSCTTY, 0) != 0) throw errno_error("TIOCSCTTY");
  for (int i = 0; i < 3; ++i)
    if (::dup2(slave.get(), i) < 0) throw errno_error("dup2 pty slave");
}

}  // namespace insula::container
