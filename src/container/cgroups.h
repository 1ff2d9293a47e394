// Cgroups for one container: v1 controllers, the cgroup2 hierarchy, or both
// (hybrid hosts: v1 controllers plus cgroup2 at /sys/fs/cgroup/unified).
#pragma once

#include <sys/types.h>

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace insula::container {

// Where each hierarchy of this host is mounted: "memory" -> /sys/fs/cgroup/memory,
// ..., and "unified" -> the cgroup2 mount (the only key on a pure v2 host).
struct CgroupLayout {
  std::map<std::string, std::string> v1;  // controller or name= -> mount point
  std::string v2;                         // cgroup2 mount point, empty if none
  bool pure_v2() const { return v1.empty() && !v2.empty(); }
  static CgroupLayout detect();
};

// Turns config's cgroupsPath (or its absence) into a path below each hierarchy root.
// With systemd-style "slice:prefix:name" it maps to /slice/prefix-name.scope.
std::string cgroup_relative_path(const std::string& cgroups_path, const std::string& id, bool systemd);

class Cgroups {
 public:
  Cgroups() = default;
  // Dirs recorded in the state file: hierarchy key -> absolute directory.
  explicit Cgroups(std::map<std::string, std::string> dirs) : dirs_(std::move(dirs)) {}

  // Creates the directories (mkdir -p) for `rel` in every hierarchy.
  static Cgroups create(const CgroupLayout& layout, const std::string& rel);

  void apply(const nlohmann::json& resources) const;  // throws on a value the kernel refuses
  // Moves the calling (single-threaded) process into every hierarchy by
  // writing "0" to each v1 `tasks` file, which spares the kernel the global
  // threadgroup lock (and the RCU grace period it waits for, ~5-15 ms here)
  // that writing a pid to cgroup.procs takes. cgroup2 has no such path
  // (cgroup.threads refuses cross-domain moves): its cgroup.procs is written
  // unless `skip_unified` (the process was cloned into it, CLONE_INTO_CGROUP).
  void join_self(bool skip_unified) const;
  // Moves another process, all its threads, into every hierarchy (the slow
  // path join_self avoids; VM management uses it for a VMM it spawned).
  void add_process(pid_t pid) const;
  void freeze(bool frozen) const;
  bool frozen() const;
  std::vector<pid_t> pids() const;
  void kill_all(int sig) const;
  // Kills what is left and removes the directories (deepest first); best effort.
  void destroy() const;

  const std::map<std::string, std::string>& dirs() const { return dirs_; }
  bool empty() const { return dirs_.empty(); }

 private:
  void apply_v1(const nlohmann::json& r) const;
  void apply_v2(const std::string& dir, const nlohmann::json& r) const;
  std::string dir(const std::string& key) const;

  std::map<std::string, std::string> dirs_;
};

// One device cgroup rule: type 'a' (all), 'c' or 'b'; major/minor -1 for any;
// access a subset of "rwm".
struct DeviceRule {
  bool allow = false;
  char type = 'a';
  int64_t major = -1, minor = -1;
  std::string access = "rwm";
};
// linux.resources.devices followed by what every container needs whatever the
// config says (runc's default allow list); the last matching rule decides.
std::vector<DeviceRule> device_rules(const nlohmann::json& devices);
// cgroup2 has no devices files: an eBPF program (BPF_PROG_TYPE_CGROUP_DEVICE)
// attached to the group decides instead (cgroups_v2_devices.cc).
void attach_device_filter(const std::string& dir, const std::vector<DeviceRule>& rules);

// Small file helpers shared by the cgroup code.
void write_cgroup_file(const std::string& dir, const std::string& file, const std::string& value);
std::string read_small_file(const std::string& path);

}  // namespace insula::container
