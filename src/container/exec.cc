// `exec`: a new process in a running container. The runtime forks a helper
// that joins the container's cgroups and namespaces; since joining a pid
// namespace only applies to children, the helper forks the real process and
// either reports its pid and exits (--detach) or waits for it. With
// SCMP_ACT_NOTIFY rules the process sends its notify fd back over a socket
// pair and the runtime hands it to the listener, as create does.
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
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
  UniqueFd notify_parent, notify_child;
  if (config.seccomp && seccomp_uses_notify(*config.seccomp)) {
    int sp[2];
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) != 0) throw errno_error("socketpair");
    notify_parent.reset(sp[0]);
    notify_child.reset(sp[1]);
  }
  pid_t helper = ::fork();
  if (helper < 0) throw errno_error("fork");
  if (helper == 0) {
    rd.reset();
    notify_parent.reset();
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
        bool loaded = notify_child && load_notify_seccomp(p, config, notify_child.get());
        apply_process_security(p, config, loaded);
        ::syscall(SYS_close_range, 3 + o.preserve_fds, ~0U, CLOSE_RANGE_CLOEXEC);
        exec_process(p, path);
      }
      notify_child.reset();  // only the process holds it: its exit closes the socket
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
  notify_child.reset();
  // The first message is the pid; an error from the exec'd child may follow (the pipe closes on exec).
  std::string msg;
  char buf[4096];
  ssize_t n;
  if (notify_parent) {
    std::string text;
    UniqueFd notify;
    // Nothing (the socket closed) means the child failed: its error follows on the pipe.
    if (sync_recv_fd(notify_parent.get(), &text, &notify) == kSyncSeccomp && notify) {
      // The helper wrote "P<pid>" (one write) right after its fork; the child
      // waits for us, so nothing else is in the pipe yet.
      do {
        n = ::read(rd.get(), buf, sizeof buf);
      } while (n < 0 && errno == EINTR);
      if (n > 0) msg.assign(buf, n);
      if (msg.size() < 2 || msg[0] != 'P') throw error("exec: the helper process did not report the process id");
      send_to_seccomp_listener(*config.seccomp, notify.get(), std::stoi(msg.substr(1)), state_json(rt, rec));
      notify.reset();
      sync_send(notify_parent.get(), kSyncContinue);
    }
  }
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
