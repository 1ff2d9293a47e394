// spawn_detached: see spawn.h.
#include "manager/spawn.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/error.h"
#include "base/fd.h"

namespace insula::manager {

pid_t spawn_detached(const std::vector<std::string>& argv, const std::string& stderr_path, int pass_fd) {
  // Everything the children need is prepared before fork: only
  // async-signal-safe calls happen after it.
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  UniqueFd devnull(::open("/dev/null", O_RDWR | O_CLOEXEC));
  UniqueFd err(::open(stderr_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
  if (!devnull || !err) throw errno_error(fmt::format("cannot open {} for the VMM's messages", stderr_path));
  int p[2], e[2];
  if (::pipe2(p, O_CLOEXEC) != 0) throw errno_error("pipe");
  UniqueFd rd(p[0]), wr(p[1]);
  // Closed by the exec: the CLI returns only once the VMM runs the new
  // program (before that, /proc would still show the CLI's command line).
  if (::pipe2(e, O_CLOEXEC) != 0) throw errno_error("pipe");
  UniqueFd exec_rd(e[0]), exec_wr(e[1]);
  // Above the fds the child's dup2s below write to, so none overwrites it first.
  UniqueFd passed(pass_fd >= 0 ? ::fcntl(pass_fd, F_DUPFD_CLOEXEC, 10) : -1);
  if (pass_fd >= 0 && !passed) throw errno_error("dup");

  pid_t child = ::fork();
  if (child < 0) throw errno_error("fork");
  if (child == 0) {
    ::setsid();
    pid_t grandchild = ::fork();
    if (grandchild == 0) {
      ::dup2(devnull.get(), 0);
      ::dup2(devnull.get(), 1);
      ::dup2(err.get(), 2);
      ::dup2(exec_wr.get(), 3);
      ::fcntl(3, F_SETFD, FD_CLOEXEC);
      if (passed) ::dup2(passed.get(), kPassedFd);  // dup2 clears FD_CLOEXEC: it stays open across exec
      ::close_range(passed ? kPassedFd + 1 : kPassedFd, ~0U, 0);
      ::execv(args[0], args.data());
      int why = errno;
      ssize_t ignored = ::write(3, &why, sizeof why);
      (void)ignored;
      _exit(127);
    }
    // The pid (or -1) goes to the CLI; this middle process then exits.
    ssize_t ignored = ::write(wr.get(), &grandchild, sizeof grandchild);
    (void)ignored;
    _exit(0);
  }
  wr.reset();
  exec_wr.reset();
  passed.reset();
  pid_t pid = -1;
  ssize_t n;
  do {
    n = ::read(rd.get(), &pid, sizeof pid);
  } while (n < 0 && errno == EINTR);
  int status = 0;
  ::waitpid(child, &status, 0);
  if (n != sizeof pid || pid <= 0) throw error("could not start {}: fork failed", argv[0]);
  int exec_errno = 0;
  do {
    n = ::read(exec_rd.get(), &exec_errno, sizeof exec_errno);
  } while (n < 0 && errno == EINTR);
  if (n == sizeof exec_errno) throw system_error(exec_errno, fmt::format("cannot run {}", argv[0]));
  return pid;
}

}  // namespace insula::manager
