// `run`: create + start; in the foreground the runtime stays the container's
// parent: it forwards signals, proxies the terminal if it owns one, waits,
// deletes the container and returns the process's exit status.
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <climits>
#include <cstdlib>

#include "base/error.h"
#include "container/console.h"
#include "container/runtime.h"

namespace insula::container {
namespace {

int exit_code(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 255;
}

// Copies what is readable from one fd to another; false at EOF/error.
bool pump(int from, int to) {
  char buf[4096];
  ssize_t n = ::read(from, buf, sizeof buf);
  if (n <= 0) return false;
  for (ssize_t off = 0; off < n;) {
    ssize_t w = ::write(to, buf + off, n - off);
    if (w <= 0) return false;
    off += w;
  }
  return true;
}

}  // namespace

int run_container(const Runtime& rt, const std::string& id, const CreateOptions& opts, bool detach) {
  CreateOptions o = opts;
  // Parsed once here for create, start and delete.
  char real[PATH_MAX];
  if (!::realpath(o.bundle.c_str(), real)) throw errno_error(fmt::format("bundle {}", o.bundle));
  o.bundle = real;
  Config config = load_config(o.bundle);
  o.config = &config;
  UniqueFd our_end, their_end;
  if (config.process.terminal && o.console_socket.empty() && !detach) {
    int sp[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) != 0) throw errno_error("socketpair");
    our_end.reset(sp[0]);
    their_end.reset(sp[1]);
    o.console_fd = their_end.get();
  }
  // Block the signals we forward before the child exists, so none is lost.
  sigset_t set, old;
  sigemptyset(&set);
  for (int s : {SIGCHLD, SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH}) sigaddset(&set, s);
  if (!detach) sigprocmask(SIG_BLOCK, &set, &old);
  pid_t pid = create_container(rt, id, o);
  their_end.reset();
  UniqueFd master;
  if (our_end) master = receive_fd(our_end.get());
  try {
    start_container(rt, id, &config);
  } catch (...) {
    delete_container(rt, id, true, &config);
    throw;
  }
  if (detach) return 0;

  UniqueFd sfd(::signalfd(-1, &set, SFD_CLOEXEC));
  termios saved{};
  bool raw = master && ::isatty(0) && ::tcgetattr(0, &saved) == 0;
  if (raw) {
    termios t = saved;
    cfmakeraw(&t);
    ::tcsetattr(0, TCSANOW, &t);
  }
  int status = 0;
  bool stdin_open = true;
  for (bool done = false; !done;) {
    pollfd fds[3] = {{sfd.get(), POLLIN, 0}, {master ? master.get() : -1, POLLIN, 0}, {master && stdin_open ? 0 : -1, POLLIN, 0}};
    if (::poll(fds, 3, -1) < 0 && errno != EINTR) break;
    if (fds[1].revents & (POLLIN | POLLHUP)) {
      if (!pump(master.get(), 1)) master.reset();
    }
    if (fds[2].revents & (POLLIN | POLLHUP)) {
      if (!pump(0, master.get())) stdin_open = false;
    }
    if (fds[0].revents & POLLIN) {
      signalfd_siginfo si{};
      if (::read(sfd.get(), &si, sizeof si) != sizeof si) continue;
      if (si.ssi_signo == SIGCHLD) {
        pid_t r;
        while ((r = ::waitpid(-1, &status, WNOHANG)) > 0)
          if (r == pid) done = true;
      } else if (si.ssi_signo == SIGWINCH && master) {
        winsize ws{};
        if (::ioctl(0, TIOCGWINSZ, &ws) == 0) ::ioctl(master.get(), TIOCSWINSZ, &ws);
      } else {
        ::kill(pid, static_cast<int>(si.ssi_signo));
      }
    }
  }
  // Drain what the terminal still holds.
  while (master) {
    pollfd p{master.get(), POLLIN, 0};
    if (::poll(&p, 1, 50) <= 0 || !pump(master.get(), 1)) break;
  }
  if (raw) ::tcsetattr(0, TCSANOW, &saved);
  sigprocmask(SIG_SETMASK, &old, nullptr);
  delete_container(rt, id, true, &config);
  return exit_code(status);
}

}  // namespace insula::container
