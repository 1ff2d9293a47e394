// `insula vm console NAME`: the terminal on a running VM's serial console
// (through its VMM's console socket). Ctrl-] detaches; the VM keeps running.
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

#include "base/error.h"
#include "base/fd.h"
#include "cli/terminal.h"
#include "cli/vm_commands.h"

namespace insula::cli {

namespace {

constexpr char kDetach = 0x1d;  // Ctrl-]

bool write_all(int fd, const char* p, size_t n) {
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    p += w;
    n -= w;
  }
  return true;
}

UniqueFd connect_unix(const std::string& path) {
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) throw errno_error("socket");
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) throw error("console socket path {} is too long", path);
  std::memcpy(addr.sun_path, path.c_str(), path.size());
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
    throw errno_error(fmt::format("cannot attach to the console at {}", path));
  return fd;
}

// Pumps stdin <-> the console socket; returns when the user detaches, stdin
// ends, or the VM's console goes away.
void attach(int sock) {
  pollfd fds[2] = {{STDIN_FILENO, POLLIN, 0}, {sock, POLLIN, 0}};
  char buf[4096];
  bool stdin_open = true;
  while (true) {
    if (::poll(fds, stdin_open ? 2 : 2, -1) < 0) {
      if (errno == EINTR) continue;
      throw errno_error("poll");
    }
    if (fds[1].revents & (POLLIN | POLLHUP | POLLERR)) {
      ssize_t n = ::read(sock, buf, sizeof buf);
      if (n <= 0) return;
      if (!write_all(STDOUT_FILENO, buf, n)) return;
    }
    if (stdin_open && (fds[0].revents & (POLLIN | POLLHUP | POLLERR))) {
      ssize_t n = ::read(STDIN_FILENO, buf, sizeof buf);
      if (n <= 0) {
        stdin_open = false;
        fds[0].fd = -1;  // keep showing output until the VM's console closes
        continue;
      }
      char* detach = static_cast<char*>(std::memchr(buf, kDetach, n));
      size_t len = detach ? detach - buf : n;
      if (len > 0 && !write_all(sock, buf, len)) return;
      if (detach) return;
    }
  }
}

}  // namespace

void add_vm_console(CLI::App& vm, Context& ctx, std::shared_ptr<VmCommon> common) {
  auto name = std::make_shared<std::string>();
  auto* cmd = vm.add_subcommand("console", "attach this terminal to a running VM's serial console (Ctrl-] detaches)");
  cmd->add_option("name", *name, "the VM's name")->required();
  cmd->callback([name, common, &ctx] {
    run_verb(ctx, [&] {
      auto r = open_manager(*common).info(*name);
      if (r.pid == 0) throw error("VM {} is not running", *name);
      UniqueFd sock = connect_unix(r.console_socket);
      RawTerminal terminal(STDIN_FILENO);
      if (terminal.active()) fmt::print(stderr, "insula: attached to {}'s console; Ctrl-] detaches\r\n", *name);
      attach(sock.get());
      terminal.restore();
      if (terminal.active()) fmt::print(stderr, "\ninsula: detached from {}\n", *name);
    });
  });
}

}  // namespace insula::cli
