// Idmapped bind mounts (mount uidMappings/gidMappings, options idmap/ridmap):
// the runtime, still in the host's namespaces, clones the source tree
// (open_tree), gives it a user namespace made for the mappings
// (mount_setattr MOUNT_ATTR_IDMAP) and hands the detached tree to the init,
// which moves it into place (move_mount). The init cannot do it itself when
// it is in a user namespace: idmapping needs CAP_SYS_ADMIN over the
// filesystem's own user namespace.
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>

#include "base/error.h"
#include "container/mounts.h"
#include "container/namespaces.h"

namespace insula::container {
namespace {

bool has_option(const Mount& m, const char* opt) {
  return std::find(m.options.begin(), m.options.end(), opt) != m.options.end();
}

// A user namespace with the given mappings: a child is cloned into a new one,
// its maps written from here, the namespace kept through an fd.
UniqueFd make_userns(const std::vector<IdMapping>& uids, const std::vector<IdMapping>& gids) {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) throw errno_error("pipe");
  UniqueFd rd(p[0]), wr(p[1]);
  long pid = ::syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, nullptr, nullptr, nullptr, nullptr);
  if (pid < 0) throw errno_error("clone a user namespace for an idmapped mount");
  if (pid == 0) {
    wr.reset();
    char b;
    (void)!::read(rd.get(), &b, 1);  // returns when the parent is done
    ::_exit(0);
  }
  rd.reset();
  struct Reap {
    long pid;
    ~Reap() {
      ::kill(static_cast<pid_t>(pid), SIGKILL);
      ::waitpid(static_cast<pid_t>(pid), nullptr, 0);
    }
  } reap{pid};
  write_id_map(static_cast<pid_t>(pid), "uid_map", uids);
  write_id_map(static_cast<pid_t>(pid), "gid_map", gids);
  UniqueFd ns(::open(fmt::format("/proc/{}/ns/user", pid).c_str(), O_RDONLY | O_CLOEXEC));
  if (!ns) throw errno_error("open the user namespace of an idmapped mount");
  return ns;
}

}  // namespace

bool is_idmapped(const Mount& m) {
  return !m.uid_mappings.empty() || !m.gid_mappings.empty() || has_option(m, "idmap") || has_option(m, "ridmap");
}

std::vector<UniqueFd> open_idmapped_mounts(const Config& c, const std::string& bundle) {
  std::vector<UniqueFd> out(c.mounts.size());
  for (size_t i = 0; i < c.mounts.size(); ++i) {
    const Mount& m = c.mounts[i];
    if (!is_idmapped(m)) continue;
    MountFlags mf = parse_mount_options(m.options);
    if (!mf.bind && m.type != "bind")
      throw error("config.json mount {}: idmapped mounts are supported for bind mounts only", m.destination);
    // Without mappings of its own the mount takes the container's (runc does the same).
    const auto& uids = m.uid_mappings.empty() ? c.uid_mappings : m.uid_mappings;
    const auto& gids = m.gid_mappings.empty() ? c.gid_mappings : m.gid_mappings;
    if (uids.empty() || gids.empty())
      throw error("config.json mount {}: an idmapped mount needs uidMappings and gidMappings (on the mount or in linux)",
                  m.destination);
    std::string src = m.source;
    if (!src.empty() && src[0] != '/') src = bundle + "/" + src;
    bool recursive = has_option(m, "ridmap");  // idmap: the top mount only, even under rbind
    UniqueFd tree(::open_tree(AT_FDCWD, src.c_str(), OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | (mf.recursive ? AT_RECURSIVE : 0)));
    if (!tree) throw errno_error(fmt::format("open_tree {} for the idmapped mount {}", src, m.destination));
    UniqueFd ns = make_userns(uids, gids);
    mount_attr attr{};
    attr.attr_set = MOUNT_ATTR_IDMAP;
    attr.userns_fd = static_cast<uint64_t>(ns.get());
    if (::mount_setattr(tree.get(), "", AT_EMPTY_PATH | (recursive ? AT_RECURSIVE : 0), &attr, sizeof attr) != 0)
      throw errno_error(fmt::format("idmap the mount of {} (mount_setattr; does its filesystem support idmapped mounts?)", src));
    out[i] = std::move(tree);
  }
  return out;
}

void attach_idmapped_mount(int tree, int target, const std::string& dst) {
  if (::move_mount(tree, "", target, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) != 0)
    throw errno_error(fmt::format("move the idmapped mount to {}", dst));
}

}  // namespace insula::container
