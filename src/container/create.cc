// `create`: the runtime side. Protocol with the child (init.cc), over a
// SOCK_SEQPACKET pair:
//   runtime: clone -> id maps, cgroup -> G
//   child:   namespaces, rootfs mounts -> H     runtime: prestart/createRuntime/createContainer hooks -> C
//   child:   masks, pivot_root, terminal, PATH lookup
//   child:   with SCMP_ACT_NOTIFY rules: load the filter -> S + notify fd
//            runtime: send it to linux.seccomp.listenerPath -> C
//   child:   -> R (or E + message at any point)
// The child then blocks reading exec.fifo until `start` writes to it.
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <optional>

#include "base/error.h"
#include "container/cgroups.h"
#include "container/console.h"
#include "container/hooks.h"
#include "container/init.h"
#include "container/mounts.h"
#include "container/namespaces.h"
#include "container/runtime.h"
#include "container/secure_path.h"
#include "container/security.h"

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif
#ifndef CLONE_INTO_CGROUP
#define CLONE_INTO_CGROUP 0x200000000ULL
#endif

namespace insula::container {
namespace {

void validate(const Config& c) {
  if (!c.has_process) throw error("config.json: process is required to create a container");
  if (c.process.args.empty()) throw error("config.json: process.args must not be empty");
  const Namespace* mnt = c.find_namespace("mount");
  if (!mnt || !mnt->path.empty())
    throw error("config.json: a new mount namespace is required (insula-runc never changes the host's mounts)");
  if (const Namespace* u = c.find_namespace("user"); u && u->path.empty() && (c.uid_mappings.empty() || c.gid_mappings.empty()))
    throw error("config.json: a new user namespace needs linux.uidMappings and linux.gidMappings");
  if ((!c.hostname.empty() || !c.domainname.empty()) && !c.has_namespace("uts"))
    throw error("config.json: hostname/domainname need a uts namespace");
  if (!c.time_offsets.empty() && !c.has_namespace("time")) throw error("config.json: linux.timeOffsets need a time namespace");
  for (const auto& [k, v] : c.sysctl)
    if (k.rfind("net.", 0) == 0 && !c.has_namespace("network"))
      throw error("config.json: sysctl {} needs a network namespace", k);
  if (c.seccomp) check_seccomp(*c.seccomp);
  for (const auto& r : c.process.rlimits) check_rlimit_name(r.type);
}

// Runs in the parent (whose own time namespace does not change, only its children's).
void setup_time_namespace(const Config& c) {
  const Namespace* t = c.find_namespace("time");
  if (!t || !t->path.empty()) return;
  if (::unshare(CLONE_NEWTIME) != 0) throw errno_error("unshare time namespace");
  std::string text;
  for (const auto& [clock, secs] : c.time_offsets) text += fmt::format("{} {} 0\n", clock, secs);
  if (!text.empty()) {
    std::ofstream out("/proc/self/timens_offsets");
    out << text;
    out.flush();
    if (!out) throw errno_error("write /proc/self/timens_offsets");
  }
}

// clone3's argument block (linux/sched.h, v2 layout with the cgroup field).
struct CloneArgs {
  uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls, set_tid, set_tid_size, cgroup;
};

// A fork-like clone into new namespaces. With a cgroup2 directory fd the child
// is born in that cgroup (CLONE_INTO_CGROUP): no migration afterwards, so no
// wait for the kernel's global threadgroup lock. *into_cgroup says whether
// that happened (kernels before 5.7 lack it; the caller then migrates).
long clone_process(unsigned long flags, int cgroup_fd, bool* into_cgroup) {
  *into_cgroup = false;
  if (cgroup_fd >= 0) {
    CloneArgs args{};
    args.flags = flags | CLONE_INTO_CGROUP;
    args.exit_signal = SIGCHLD;
    args.cgroup = static_cast<uint64_t>(cgroup_fd);
    long pid = ::syscall(SYS_clone3, &args, sizeof args);
    if (pid >= 0) {
      *into_cgroup = true;
      return pid;
    }
    if (errno != ENOSYS && errno != E2BIG && errno != EINVAL) return pid;
  }
  return ::syscall(SYS_clone, flags | SIGCHLD, nullptr, nullptr, nullptr, nullptr);
}

struct Cleanup {
  const Runtime& rt;
  std::string id;
  Cgroups cgroups;
  pid_t child = -1;
  bool armed = true;
  ~Cleanup() {
    if (!armed) return;
    if (child > 0) {
      ::kill(child, SIGKILL);
      ::waitpid(child, nullptr, 0);
    }
    cgroups.destroy();
    remove_tree(rt.container_dir(id));
  }
};

}  // namespace

void write_pid_file(const std::string& path, pid_t pid) {
  if (path.empty()) return;
  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp);
    out << pid;
    if (!out) throw errno_error(fmt::format("write pid file {}", path));
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) throw errno_error(fmt::format("rename pid file {}", path));
}

pid_t create_container(const Runtime& rt, const std::string& id, const CreateOptions& o) {
  check_container_id(id);
  char real[PATH_MAX];
  if (!::realpath(o.bundle.c_str(), real)) throw errno_error(fmt::format("bundle {}", o.bundle));
  std::string bundle = real;
  std::optional<Config> loaded;
  const Config& config = o.config ? *o.config : loaded.emplace(load_config(bundle));
  validate(config);
  if (config.process.terminal && o.console_socket.empty() && o.console_fd < 0)
    throw error("cannot allocate tty if insula-runc will detach without setting console socket");

  mkdir_all(rt.root, 0711);
  std::string dir = rt.container_dir(id);
  if (::mkdir(dir.c_str(), 0711) != 0) {
    if (errno == EEXIST) throw error("container with id exists: {}", id);
    throw errno_error(fmt::format("mkdir {}", dir));
  }
  Cleanup cleanup{rt, id, {}};
  std::string fifo = exec_fifo_path(rt, id);
  if (::mkfifo(fifo.c_str(), 0622) != 0) throw errno_error(fmt::format("mkfifo {}", fifo));
  UniqueFd fifo_fd(::open(fifo.c_str(), O_RDWR | O_CLOEXEC));
  if (!fifo_fd) throw errno_error(fmt::format("open {}", fifo));

  CgroupLayout layout = CgroupLayout::detect();
  ContainerRecord rec;
  rec.id = id;
  rec.bundle = bundle;
  rec.rootfs = config.root_path;
  rec.created = now_rfc3339();
  rec.annotations = config.annotations;
  rec.systemd_cgroup = rt.systemd_cgroup;
  cleanup.cgroups = Cgroups::create(layout, cgroup_relative_path(config.cgroups_path, id, rt.systemd_cgroup));
  // Recorded before anything else can fail, so that `delete --force` finds the
  // cgroups even if this process is killed half-way (status "creating").
  rec.cgroup_dirs = cleanup.cgroups.dirs();
  save_record(rt, rec);
  cleanup.cgroups.apply(config.resources);

  UniqueFd console;
  int console_fd = o.console_fd;
  if (!o.console_socket.empty()) {
    console = connect_console_socket(o.console_socket);
    console_fd = console.get();
  }

  join_namespace_paths(config, true);
  setup_time_namespace(config);

  int sp[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) != 0) throw errno_error("socketpair");
  UniqueFd parent_end(sp[0]), child_end(sp[1]);

  UniqueFd cgroup2_fd;
  if (std::string u = cleanup.cgroups.dirs().count("unified") ? cleanup.cgroups.dirs().at("unified") : ""; !u.empty())
    cgroup2_fd.reset(::open(u.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  // Made here, in the host's user namespace (the init may be in its own).
  std::vector<UniqueFd> idmapped = open_idmapped_mounts(config, bundle);
  InitArgs args{&config, bundle, child_end.get(), fifo_fd.get(), console_fd, o.preserve_fds, o.no_pivot, cleanup.cgroups};
  args.idmapped = &idmapped;
  // A fork-like clone: the child gets a copy of this address space and runs init.
  long pid = clone_process(clone_flags(config), cgroup2_fd ? cgroup2_fd.get() : -1, &args.in_cgroup2);
  if (pid < 0) throw errno_error("clone the container process");
  if (pid == 0) {
    parent_end.reset();
    container_init(args);
  }
  cleanup.child = static_cast<pid_t>(pid);
  child_end.reset();
  fifo_fd.reset();
  console.reset();

  rec.pid = cleanup.child;

  auto child_error = [&](char kind, const std::string& text) -> Error {
    if (kind == kSyncError) return Error(text);
    int status = 0;
    ::waitpid(cleanup.child, &status, 0);
    cleanup.child = -1;
    return error("container process exited during setup (status {})", status);
  };

  if (config.has_namespace("user") && config.find_namespace("user")->path.empty())
    write_id_mappings(rec.pid, config);
  // The child joins its cgroups itself (InitArgs::cgroups, see Cgroups::join_self).
  if (config.process.oom_score_adj) {
    std::ofstream out(fmt::format("/proc/{}/oom_score_adj", rec.pid));
    out << *config.process.oom_score_adj;
    out.flush();
    if (!out) throw errno_error("write oom_score_adj");
  }
  sync_send(parent_end.get(), kSyncGo);

  std::string text;
  char kind = sync_recv(parent_end.get(), &text);
  if (kind != kSyncHooks) throw child_error(kind, text);
  rec.pid_start = process_start_time(rec.pid);
  save_record(rt, rec);
  std::string state = state_json(rt, rec).dump();
  run_hooks(config.hooks.prestart, "prestart", state);
  run_hooks(config.hooks.create_runtime, "createRuntime", state);
  run_hooks(config.hooks.create_container, "createContainer", state, rec.pid);
  sync_send(parent_end.get(), kSyncContinue);

  UniqueFd notify;
  kind = sync_recv_fd(parent_end.get(), &text, &notify);
  if (kind == kSyncSeccomp) {
    if (!notify) throw error("the container process sent no seccomp notify fd");
    nlohmann::json st = state_json(rt, rec);
    st["status"] = "creating";
    send_to_seccomp_listener(*config.seccomp, notify.get(), rec.pid, st);
    notify.reset();
    sync_send(parent_end.get(), kSyncContinue);
    kind = sync_recv(parent_end.get(), &text);
  }
  if (kind != kSyncReady) throw child_error(kind, text);
  write_pid_file(o.pid_file, rec.pid);
  cleanup.armed = false;
  return rec.pid;
}

}  // namespace insula::container
