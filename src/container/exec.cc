// `exec`: a new process in a running container. The runtime forks a helper
// that joins the container's cgroups and namespaces; since joining a pid
// namespace only applies to children, the helper forks the real process and
// either reports its pid and exits (--detach) or waits for it.
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>

#include "base/error.h"
#include "container/console.h"
#include "container/init.h"
#include "container/namespaces.h"
#include "container/runtime.h"
#include "container/security.h"

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

namespace insula::container {
namespace {

void report(int fd, const std::string& msg) {
  (void)!::write(fd, msg.data(), msg.size());
}

}  // namespace

int exec_container(const Runtime& rt, const std::string& id, const ExecOptions& o) {
  ContainerRecord rec = load_record(rt, id);
  Status s = container_status(rt, rec);
  if (s == Status::kStopped) throw error("cannot exec in a stopped container");
  if (s == Status::kPaused) throw error("cannot exec in a paused container");
  Config config = load_config(rec.bundle);
  Process p = o.process;
  if (p.terminal && o.console_socket.empty()) throw error("cannot allocate tty without setting console socket");
  UniqueFd console;
  if (!o.console_socket.empty()) console = connect_console_socket(o.console_socket);
  auto namespaces = open_namespaces(rec.pid);
  Cgroups cg(rec.cgroup_dirs);

  int pfd[2];
  if (::pipe2(pfd, O_CLOEXEC) != 0) throw errno_error("pipe");
  UniqueFd rd(pfd[0]), wr(pfd[1]);
  pid_t helper = ::fork();
  if (helper < 0) throw errno_error("fork");
  if (helper == 0) {
    rd.reset();
    try {
      cg.join_self(false);
      enter_namespaces(namespaces);
      pid_t child = ::fork();
      if (child < 0) throw errno_error("fork");
      if (child == 0) {
        if (p.terminal) setup_console(console.get(), p.console_size);
        console.reset();
        if (::chdir(p.cwd.c_str()) != 0)
          throw error("chdir to cwd (\"{}\") failed: {}", p.cwd, errno == ENOENT ? "no such file or directory" : std::strerror(errno));
        std::string path = find_executable(p.args.empty() ? std::string() : p.args[0], p.env);
        apply_rlimits(p.rlimits);
        apply_process_security(p, config);
        ::syscall(SYS_close_range, 3 + o.preserve_fds, ~0U, CLOSE_RANGE_CLOEXEC);
        exec_process(p, path);
      }
      report(wr.get(), fmt::format("P{}", child));
      if (o.detach) ::_exit(0);
      wr.reset();
      int status = 0;
      while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
      }
      ::_exit(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
    } catch (const std::exception& e) {
      report(wr.get(), std::string("E") + e.what());
      ::_exit(255);
    }
  }
  wr.reset();
  console.reset();
  // The first message is the pid; an error from the exec'd child may follow (the pipe closes on exec).
  std::string msg;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(rd.get(), buf, sizeof buf)) > 0) msg.append(buf, n);
  pid_t child = 0;
  std::string err;
  if (!msg.empty() && msg[0] == 'P') {
    size_t i = 1;
    while (i < msg.size() && isdigit(static_cast<unsigned char>(msg[i]))) ++i;
    child = std::stoi(msg.substr(1, i - 1));
    if (i < msg.size() && msg[i] == 'E') err = msg.substr(i + 1);
  } else if (!msg.empty() && msg[0] == 'E') {
    err = msg.substr(1);
  }
  int status = 0;
  if (!err.empty()) {
    ::waitpid(helper, &status, 0);
    throw Error(err);
  }
  if (child == 0) {
    ::waitpid(helper, &status, 0);
    throw error("exec: the helper process failed (status {})", status);
  }
  write_pid_file(o.pid_file, child);
  while (::waitpid(helper, &status, 0) < 0 && errno == EINTR) {
  }
  if (o.detach) return 0;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

}  // namespace insula::container
