// Hook execution: fork, state JSON on a pipe to stdin, wait with a deadline.
#include "container/hooks.h"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <sys/syscall.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <thread>

#include "base/error.h"
#include "base/fd.h"
#include "container/namespaces.h"

namespace insula::container {
namespace {

// Runs in the forked hook process: enters the container's namespaces and
// execs the hook (opened in the runtime's mount namespace). Joining a pid or
// time namespace applies to children only, so then it forks once more and
// passes the hook's exit status on. 126: a namespace could not be entered.
[[noreturn]] void exec_in_namespaces(int exe, const std::vector<NsFd>& namespaces, char** argv, char** envp) {
  bool fork_again;
  try {
    fork_again = enter_namespaces(namespaces);
  } catch (const Error&) {
    ::_exit(126);
  }
  if (fork_again) {
    pid_t child = ::fork();
    if (child < 0) ::_exit(126);
    if (child > 0) {
      int status = 0;
      while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
      }
      ::_exit(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
    }
  }
  ::syscall(SYS_execveat, exe, "", argv, envp, AT_EMPTY_PATH);
  ::_exit(127);
}

void run_hook(const Hook& h, const std::string& kind, const std::string& state, int ns_pid) {
  UniqueFd exe;
  std::vector<NsFd> namespaces;
  if (ns_pid > 0) {
    exe.reset(::open(h.path.c_str(), O_PATH | O_CLOEXEC));
    if (!exe) throw errno_error(fmt::format("{} hook {}", kind, h.path));
    namespaces = open_namespaces(ns_pid);
  }
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) throw errno_error("pipe");
  UniqueFd rd(p[0]), wr(p[1]);
  std::vector<std::string> args = h.args.empty() ? std::vector<std::string>{h.path} : h.args;
  std::vector<char*> argv, envp;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::string> env = h.env;
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  pid_t pid = ::fork();
  if (pid < 0) throw errno_error("fork hook");
  if (pid == 0) {
    ::dup2(rd.get(), 0);
    ::setpgid(0, 0);
    if (exe) exec_in_namespaces(exe.get(), namespaces, argv.data(), envp.data());
    ::execve(h.path.c_str(), argv.data(), envp.data());
    ::_exit(127);
  }
  rd.reset();
  // The hook may not read stdin at all: a short write (EPIPE) is not an error.
  ::signal(SIGPIPE, SIG_IGN);
  (void)!::write(wr.get(), state.data(), state.size());
  wr.reset();
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(h.timeout.value_or(3600 * 24));
  // A pidfd becomes readable when the hook exits: no polling with sleeps
  // (kernels before 5.3 lack pidfd_open: check every 2 ms there).
  UniqueFd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
  int status = 0;
  for (;;) {
    pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) break;
    if (r < 0 && errno != EINTR) throw errno_error("wait for hook");
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
    if (left < 0) {
      ::kill(-pid, SIGKILL);
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      throw error("{} hook {} timed out after {} s and was killed", kind, h.path, *h.timeout);
    }
    if (pidfd) {
      pollfd p{pidfd.get(), POLLIN, 0};
      ::poll(&p, 1, static_cast<int>(std::min<long long>(left + 1, 24LL * 3600 * 1000)));
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return;
  if (WIFEXITED(status) && WEXITSTATUS(status) == 126)
    throw error("{} hook {}: could not enter the container's namespaces", kind, h.path);
  if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
    throw error("{} hook {} could not be executed (no such file or directory?)", kind, h.path);
  if (WIFEXITED(status)) throw error("{} hook {} failed with exit status {}", kind, h.path, WEXITSTATUS(status));
  throw error("{} hook {} was killed by signal {}", kind, h.path, WTERMSIG(status));
}

}  // namespace

void run_hooks(const std::vector<Hook>& hooks, const std::string& kind, const std::string& state_json, int ns_pid) {
  for (const auto& h : hooks) run_hook(h, kind, state_json, ns_pid);
}

}  // namespace insula::container
