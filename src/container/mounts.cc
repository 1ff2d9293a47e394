// Rootfs preparation in the container's mount namespace (runs in the child
// before it execs; the host's mount namespace is never modified).
#include "container/mounts.h"

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <map>

#include "base/error.h"
#include "base/fd.h"
#include "container/secure_path.h"

namespace insula::container {
namespace {

struct FlagDef {
  bool clear;
  unsigned long flag;
};

const std::map<std::string, FlagDef>& flag_table() {
  static const std::map<std::string, FlagDef> t = {
      {"ro", {false, MS_RDONLY}},         {"rw", {true, MS_RDONLY}},          {"nosuid", {false, MS_NOSUID}},
      {"suid", {true, MS_NOSUID}},        {"nodev", {false, MS_NODEV}},       {"dev", {true, MS_NODEV}},
      {"noexec", {false, MS_NOEXEC}},     {"exec", {true, MS_NOEXEC}},        {"sync", {false, MS_SYNCHRONOUS}},
      {"async", {true, MS_SYNCHRONOUS}},  {"dirsync", {false, MS_DIRSYNC}},   {"remount", {false, MS_REMOUNT}},
      {"mand", {false, MS_MANDLOCK}},     {"nomand", {true, MS_MANDLOCK}},    {"atime", {true, MS_NOATIME}},
      {"noatime", {false, MS_NOATIME}},   {"diratime", {true, MS_NODIRATIME}}, {"nodiratime", {false, MS_NODIRATIME}},
      {"relatime", {false, MS_RELATIME}}, {"norelatime", {true, MS_RELATIME}}, {"strictatime", {false, MS_STRICTATIME}},
      {"nostrictatime", {true, MS_STRICTATIME}}, {"lazytime", {false, MS_LAZYTIME}}, {"nolazytime", {true, MS_LAZYTIME}},
      {"silent", {false, MS_SILENT}},     {"loud", {true, MS_SILENT}},
  };
  return t;
}

const std::map<std::string, unsigned long>& propagation_table() {
  static const std::map<std::string, unsigned long> t = {
      {"private", MS_PRIVATE},   {"rprivate", MS_PRIVATE | MS_REC},     {"shared", MS_SHARED},
      {"rshared", MS_SHARED | MS_REC}, {"slave", MS_SLAVE},           {"rslave", MS_SLAVE | MS_REC},
      {"unbindable", MS_UNBINDABLE}, {"runbindable", MS_UNBINDABLE | MS_REC},
  };
  return t;
}

void do_mount(const std::string& src, const std::string& dst, const char* type, unsigned long flags, const std::string& data) {
  if (::mount(src.empty() ? nullptr : src.c_str(), dst.c_str(), type, flags, data.empty() ? nullptr : data.c_str()) != 0)
    throw errno_error(fmt::format("mount {} on {} (type {})", src.empty() ? "none" : src, dst, type ? type : "none"));
}

// Flags the kernel locks on a mount made in a user namespace must be kept on remount.
unsigned long locked_flags(const std::string& path) {
  struct statvfs s {};
  if (::statvfs(path.c_str(), &s) != 0) return 0;
  unsigned long f = 0;
  if (s.f_flag & ST_NOSUID) f |= MS_NOSUID;
  if (s.f_flag & ST_NODEV) f |= MS_NODEV;
  if (s.f_flag & ST_NOEXEC) f |= MS_NOEXEC;
  if (s.f_flag & ST_RDONLY) f |= MS_RDONLY;
  return f;
}

// Creates the mount point: a directory, or an empty file when binding a non-directory.
void make_mount_point(const std::string& path, bool file) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) return;
  auto slash = path.rfind('/');
  mkdir_all(path.substr(0, slash), 0755);
  if (!file) {
    mkdir_all(path, 0755);
    return;
  }
  UniqueFd fd(::open(path.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0644));
  if (!fd) throw errno_error(fmt::format("create mount point {}", path));
}

void mount_cgroup(const Mount& m, const std::string& dst, const MountFlags& mf, const RootfsOptions& o) {
  make_mount_point(dst, false);
  unsigned long flags = mf.flags & ~MS_RDONLY;
  const auto& dirs = o.cgroups.dirs();
  bool pure_v2 = dirs.size() == 1 && dirs.count("unified");
  if (pure_v2 || m.type == "cgroup2") {
    if (o.cgroup_ns) {
      do_mount("cgroup2", dst, "cgroup2", mf.flags, "");
    } else {
      do_mount(dirs.count("unified") ? dirs.at("unified") : "/sys/fs/cgroup", dst, nullptr, MS_BIND | MS_REC, "");
      if (mf.flags & MS_RDONLY) do_mount("", dst, nullptr, MS_BIND | MS_REMOUNT | MS_RDONLY | locked_flags(dst), "");
    }
    return;
  }
  // v1/hybrid: a tmpfs with one bind of the container's own cgroup per hierarchy.
  do_mount("tmpfs", dst, "tmpfs", flags, "mode=755");
  for (const auto& [key, dir] : dirs) {
    std::string name = key.rfind("name=", 0) == 0 ? key.substr(5) : key;
    std::string sub = dst + "/" + name;
    mkdir_all(sub, 0755);
    do_mount(dir, sub, nullptr, MS_BIND | MS_REC, "");
    if (mf.flags & MS_RDONLY) do_mount("", sub, nullptr, MS_BIND | MS_REMOUNT | MS_RDONLY | locked_flags(sub), "");
  }
  // cpu,cpuacct style co-mounts expect their combined name too.
  if (dirs.count("cpu") && dirs.count("cpuacct")) {
    ::symlink("cpu", (dst + "/cpu,cpuacct").c_str());
  }
  if (mf.flags & MS_RDONLY) do_mount("", dst, nullptr, MS_REMOUNT | flags | MS_RDONLY, "mode=755");
}

void mount_one(const Config& c, const Mount& m, const RootfsOptions& o, int idmapped_tree) {
  MountFlags mf = parse_mount_options(m.options);
  std::string dst = secure_join(c.root_path, m.destination);
  if (m.type == "cgroup" || m.type == "cgroup2") return mount_cgroup(m, dst, mf, o);
  bool bind = mf.bind || m.type == "bind";
  if (bind) {
    std::string src = m.source;
    if (!src.empty() && src[0] != '/') src = o.bundle + "/" + src;
    struct stat st {};
    if (::stat(src.c_str(), &st) != 0) throw errno_error(fmt::format("bind mount source {}", src));
    make_mount_point(dst, !S_ISDIR(st.st_mode));
    // Mount through an O_PATH fd so a symlink swapped in after resolution cannot redirect it.
    UniqueFd target(::open(dst.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
    if (!target) throw errno_error(fmt::format("open mount point {}", dst));
    std::string via = fmt::format("/proc/self/fd/{}", target.get());
    if (idmapped_tree >= 0)
      attach_idmapped_mount(idmapped_tree, target.get(), dst);
    else
      do_mount(src, via, nullptr, MS_BIND | (mf.recursive ? MS_REC : 0), "");
    unsigned long want = mf.flags & ~(MS_REMOUNT | MS_BIND | MS_REC);
    if (want & (MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_NOATIME | MS_NODIRATIME | MS_RELATIME | MS_STRICTATIME))
      do_mount("", dst, nullptr, MS_BIND | MS_REMOUNT | want | (o.in_user_ns ? locked_flags(dst) : 0), "");
  } else {
    make_mount_point(dst, false);
    UniqueFd target(::open(dst.c_str(), O_PATH | O_NOFOLLOW | O_DIRECTORY | O_CLOEXEC));
    if (!target) throw errno_error(fmt::format("open mount point {}", dst));
    std::string via = fmt::format("/proc/self/fd/{}", target.get());
    std::string data = mf.data;
    try {
      do_mount(m.source, via, m.type.c_str(), mf.flags & ~MS_REMOUNT, data);
    } catch (const Error&) {
      // sysfs cannot be mounted in a user namespace without its own network
      // namespace: bind the host's, as runc does.
      if (m.type == "sysfs" && o.in_user_ns) {
        do_mount("/sys", via, nullptr, MS_BIND | MS_REC, "");
        do_mount("", dst, nullptr, MS_BIND | MS_REMOUNT | MS_RDONLY | locked_flags(dst), "");
      } else if (m.type == "mqueue" && o.in_user_ns) {
        do_mount("/dev/mqueue", via, nullptr, MS_BIND | MS_REC, "");
      } else {
        throw;
      }
    }
  }
  if (mf.propagation) do_mount("", dst, nullptr, mf.propagation, "");
}

struct DefaultDevice {
  const char* path;
  unsigned major, minor;
};
constexpr DefaultDevice kDefaultDevices[] = {{"/dev/null", 1, 3}, {"/dev/zero", 1, 5},    {"/dev/full", 1, 7},
                                             {"/dev/random", 1, 8}, {"/dev/urandom", 1, 9}, {"/dev/tty", 5, 0}};

void create_device(const std::string& root, const Device& d, bool bind) {
  std::string dst = secure_join(root, d.path);
  mkdir_all(dst.substr(0, dst.rfind('/')), 0755);
  if (bind) {
    // No mknod in a user namespace: bind the host's node instead.
    make_mount_point(dst, true);
    do_mount(d.path, dst, nullptr, MS_BIND, "");
    return;
  }
  mode_t type = d.type == "b" ? S_IFBLK : d.type == "p" ? S_IFIFO : S_IFCHR;
  ::unlink(dst.c_str());
  if (::mknod(dst.c_str(), type | (d.file_mode & 07777), makedev(d.major, d.minor)) != 0)
    throw errno_error(fmt::format("mknod {}", dst));
  ::chmod(dst.c_str(), d.file_mode & 07777);
  if (::chown(dst.c_str(), d.uid, d.gid) != 0) throw errno_error(fmt::format("chown {}", dst));
}

bool mounts_dev(const Config& c) {
  for (const auto& m : c.mounts)
    if (m.destination == "/dev") return true;
  return false;
}

void write_file(const std::string& path, const std::string& value) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd || ::write(fd.get(), value.data(), value.size()) < 0) throw errno_error(fmt::format("write {}", path));
}

}  // namespace

MountFlags parse_mount_options(const std::vector<std::string>& options) {
  MountFlags mf;
  for (const auto& opt : options) {
    if (auto it = flag_table().find(opt); it != flag_table().end()) {
      if (it->second.clear) {
        mf.flags &= ~it->second.flag;
        mf.clear |= it->second.flag;
      } else {
        mf.flags |= it->second.flag;
      }
    } else if (auto p = propagation_table().find(opt); p != propagation_table().end()) {
      mf.propagation = p->second;
    } else if (opt == "bind" || opt == "rbind") {
      mf.bind = true;
      mf.recursive = mf.recursive || opt == "rbind";
    } else if (opt == "tmpcopyup" || opt == "rro" || opt == "rrw" || opt == "idmap" || opt == "ridmap") {
      // idmap/ridmap: see idmap_mounts.cc.
      if (opt == "rro") mf.flags |= MS_RDONLY;
    } else {
      mf.data += (mf.data.empty() ? "" : ",") + opt;
    }
  }
  return mf;
}

void prepare_rootfs(const Config& c, const RootfsOptions& o) {
  // Nothing done below may propagate back to the host.
  unsigned long root_prop = MS_SLAVE | MS_REC;
  if (!c.rootfs_propagation.empty()) {
    auto it = propagation_table().find(c.rootfs_propagation);
    if (it == propagation_table().end())
      throw error("config.json: unknown linux.rootfsPropagation '{}'", c.rootfs_propagation);
    root_prop = it->second;
    if (root_prop & MS_SHARED) root_prop = MS_SLAVE | MS_REC;  // shared is applied after the switch
  }
  do_mount("", "/", nullptr, root_prop, "");
  struct stat st {};
  if (::stat(c.root_path.c_str(), &st) != 0) throw errno_error(fmt::format("rootfs {}", c.root_path));
  if (!S_ISDIR(st.st_mode)) throw error("rootfs {} is not a directory", c.root_path);
  do_mount(c.root_path, c.root_path, nullptr, MS_BIND | MS_REC, "");
  // pivot_root refuses a shared parent mount.
  do_mount("", c.root_path, nullptr, MS_PRIVATE, "");

  for (size_t i = 0; i < c.mounts.size(); ++i) {
    const Mount& m = c.mounts[i];
    int tree = o.idmapped && (*o.idmapped)[i] ? (*o.idmapped)[i].get() : -1;
    try {
      mount_one(c, m, o, tree);
    } catch (const Error&) {
      rethrow_with_context(fmt::format("config.json mount {} (type {})", m.destination, m.type.empty() ? "none" : m.type));
    }
  }

  bool setup_dev = mounts_dev(c);
  if (setup_dev) {
    for (const auto& d : kDefaultDevices) {
      bool configured = false;
      for (const auto& cd : c.devices) configured = configured || cd.path == d.path;
      if (!configured) create_device(c.root_path, Device{d.path, "c", d.major, d.minor, 0666, true, 0, 0}, o.in_user_ns);
    }
  }
  for (const auto& d : c.devices) create_device(c.root_path, d, o.in_user_ns);
  if (setup_dev) {
    const std::pair<const char*, const char*> links[] = {{"/proc/self/fd", "fd"}, {"/proc/self/fd/0", "stdin"},
                                                          {"/proc/self/fd/1", "stdout"}, {"/proc/self/fd/2", "stderr"}};
    std::string dev = secure_join(c.root_path, "/dev");
    for (const auto& [target, name] : links) {
      std::string p = dev + "/" + name;
      if (::symlink(target, p.c_str()) != 0 && errno != EEXIST) throw errno_error(fmt::format("symlink {}", p));
    }
    if (::access("/proc/kcore", F_OK) == 0) ::symlink("/proc/kcore", (dev + "/core").c_str());
    std::string ptmx = dev + "/ptmx";
    ::unlink(ptmx.c_str());
    if (::symlink("pts/ptmx", ptmx.c_str()) != 0) throw errno_error(fmt::format("symlink {}", ptmx));
  }
}

void finalize_rootfs_paths(const Config& c) {
  for (const auto& [key, value] : c.sysctl) {
    std::string rel = key;
    std::replace(rel.begin(), rel.end(), '.', '/');
    if (rel.find("..") != std::string::npos) throw error("config.json: bad sysctl name {}", key);
    write_file(secure_join(c.root_path, "/proc/sys/" + rel), value);
  }
  for (const auto& p : c.masked_paths) {
    std::string path = secure_join(c.root_path, p);
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0) continue;
    if (S_ISDIR(st.st_mode))
      do_mount("tmpfs", path, "tmpfs", MS_RDONLY, "size=0");
    else
      do_mount("/dev/null", path, nullptr, MS_BIND, "");
  }
  for (const auto& p : c.readonly_paths) {
    std::string path = secure_join(c.root_path, p);
    if (::access(path.c_str(), F_OK) != 0) continue;
    do_mount(path, path, nullptr, MS_BIND | MS_REC, "");
    do_mount("", path, nullptr, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_REC | locked_flags(path), "");
  }
}

void switch_root(const Config& c, bool no_pivot) {
  if (::chdir(c.root_path.c_str()) != 0) throw errno_error(fmt::format("chdir {}", c.root_path));
  if (no_pivot) {
    do_mount(c.root_path, "/", nullptr, MS_MOVE, "");
    if (::chroot(".") != 0) throw errno_error("chroot");
  } else {
    if (::syscall(SYS_pivot_root, ".", ".") != 0) throw errno_error(fmt::format("pivot_root {}", c.root_path));
    // The old root is stacked under the new one: keep its unmount from
    // propagating to the host, then detach it.
    do_mount("", ".", nullptr, MS_SLAVE | MS_REC, "");
    if (::umount2(".", MNT_DETACH) != 0) throw errno_error("umount old root");
  }
  if (::chdir("/") != 0) throw errno_error("chdir /");
  if (!c.rootfs_propagation.empty()) {
    auto it = propagation_table().find(c.rootfs_propagation);
    do_mount("", "/", nullptr, it->second, "");
  }
  if (c.root_readonly) do_mount("", "/", nullptr, MS_BIND | MS_REMOUNT | MS_RDONLY | locked_flags("/"), "");
}

}  // namespace insula::container
