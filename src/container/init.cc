// Child side of create: namespaces, rootfs, terminal, then wait for start.
#include "container/init.h"

#include <sched.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstring>

#include "base/error.h"
#include "container/console.h"
#include "container/hooks.h"
#include "container/mounts.h"
#include "container/namespaces.h"
#include "container/security.h"

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

namespace insula::container {

void sync_send(int fd, char kind, const std::string& text) {
  std::string msg(1, kind);
  msg += text;
  if (::send(fd, msg.data(), msg.size(), MSG_NOSIGNAL) < 0) throw errno_error("sync with runtime");
}

char sync_recv(int fd, std::string* text) {
  char buf[8192];
  ssize_t n;
  do {
    n = ::recv(fd, buf, sizeof buf, 0);
  } while (n < 0 && errno == EINTR);
  if (n <= 0) return 0;
  if (text) text->assign(buf + 1, n - 1);
  return buf[0];
}

char sync_recv_fd(int fd, std::string* text, UniqueFd* received) {
  std::string msg;
  *received = receive_fd_message(fd, &msg);
  if (msg.empty()) return 0;
  text->assign(msg, 1);
  return msg[0];
}

void apply_process_security(const Process& p, const Config& c, bool seccomp_loaded) {
  bool load = c.seccomp && !seccomp_loaded;
  if (p.capabilities) drop_bounding_set(*p.capabilities);
  // Without no_new_privs, loading a filter needs CAP_SYS_ADMIN: do it before dropping.
  if (load && !p.no_new_privileges) load_seccomp(*c.seccomp);
  set_user(p.user, p.capabilities.has_value());
  if (p.capabilities) apply_capabilities(*p.capabilities);
  if (p.no_new_privileges && ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) throw errno_error("set no_new_privs");
  if (load && p.no_new_privileges) load_seccomp(*c.seccomp);
}

bool load_notify_seccomp(const Process& p, const Config& c, int sync_fd) {
  if (!c.seccomp || !seccomp_uses_notify(*c.seccomp)) return false;
  // Still privileged here (loading without no_new_privs needs CAP_SYS_ADMIN).
  if (p.no_new_privileges && ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) throw errno_error("set no_new_privs");
  UniqueFd notify = load_seccomp(*c.seccomp);
  send_fd(sync_fd, notify.get(), std::string(1, kSyncSeccomp));
  std::string err;
  if (sync_recv(sync_fd, &err) != kSyncContinue) ::_exit(1);
  return true;
}

void container_init(const InitArgs& a) {
  const Config& c = *a.config;
  const Process& p = c.process;
  std::string path;
  bool seccomp_loaded = false;
  try {
    // Die with the runtime while it still owns us (it exits after create).
    ::prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    if (sync_recv(a.sync_fd, nullptr) != kSyncGo) ::_exit(1);
    // Still the host's credentials and mounts here (a joined user namespace comes next).
    a.cgroups.join_self(a.in_cgroup2);
    bool user_ns = c.has_namespace("user");
    if (user_ns) {
      if (::setresgid(0, 0, 0) != 0 || ::setresuid(0, 0, 0) != 0)
        throw errno_error("become root in the user namespace (are uid/gid 0 mapped?)");
    }
    join_namespace_paths(c, false);
    if (const Namespace* ns = c.find_namespace("cgroup"); ns && ns->path.empty())
      if (::unshare(CLONE_NEWCGROUP) != 0) throw errno_error("unshare cgroup namespace");
    if (c.has_namespace("uts")) {
      if (!c.hostname.empty() && ::sethostname(c.hostname.data(), c.hostname.size()) != 0) throw errno_error("sethostname");
      if (!c.domainname.empty() && ::setdomainname(c.domainname.data(), c.domainname.size()) != 0)
        throw errno_error("setdomainname");
    }
    RootfsOptions ro{a.bundle, user_ns, c.has_namespace("cgroup"), a.cgroups, a.idmapped};
    prepare_rootfs(c, ro);
    sync_send(a.sync_fd, kSyncHooks);
    std::string err;
    char k = sync_recv(a.sync_fd, &err);
    if (k != kSyncContinue) ::_exit(1);
    finalize_rootfs_paths(c);
    switch_root(c, a.no_pivot);
    if (p.terminal) {
      if (a.console_fd < 0) throw error("process.terminal is true but no console socket was given (--console-socket)");
      setup_console(a.console_fd, p.console_size);
      ::close(a.console_fd);
    }
    if (::chdir(p.cwd.c_str()) != 0)
      throw error("chdir to cwd (\"{}\") set in config.json failed: {}", p.cwd,
                  errno == ENOENT ? "no such file or directory" : std::strerror(errno));
    path = find_executable(p.args.empty() ? std::string() : p.args[0], p.env);
    apply_rlimits(p.rlimits);
    // The notify fd must reach the listener during create, while the runtime
    // is still here, so a notifying filter is loaded now (as runc does).
    seccomp_loaded = load_notify_seccomp(p, c, a.sync_fd);
    // The runtime exits after create; we must outlive it from now on.
    ::prctl(PR_SET_PDEATHSIG, 0, 0, 0, 0);
    sync_send(a.sync_fd, kSyncReady);
    ::close(a.sync_fd);
  } catch (const std::exception& e) {
    try {
      sync_send(a.sync_fd, kSyncError, e.what());
    } catch (...) {
    }
    ::_exit(1);
  }
  // From here on nobody listens on the sync socket: errors go to stderr.
  try {
    char b;
    ssize_t n;
    do {
      n = ::read(a.fifo_fd, &b, 1);
    } while (n < 0 && errno == EINTR);
    if (n != 1) ::_exit(1);
    ::close(a.fifo_fd);
    run_hooks(c.hooks.start_container, "startContainer", "{}");
    apply_process_security(p, c, seccomp_loaded);
    ::syscall(SYS_close_range, 3 + a.preserve_fds, ~0U, CLOSE_RANGE_CLOEXEC);
    exec_process(p, path);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "insula-runc: container init: %s\n", e.what());
    ::_exit(127);
  }
}

}  // namespace insula::container
