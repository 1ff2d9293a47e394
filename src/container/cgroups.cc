// Cgroup layout detection, creation, membership, freezing and removal.
// Resource files are written by cgroups_v1.cc and cgroups_v2.cc.
#include "container/cgroups.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <iterator>
#include <set>
#include <sstream>
#include <thread>

#include "base/error.h"
#include "base/fd.h"

namespace insula::container {

std::string read_small_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) return {};
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_cgroup_file(const std::string& dir, const std::string& file, const std::string& value) {
  std::string path = dir + "/" + file;
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd) throw errno_error(fmt::format("cgroup: open {}", path));
  if (::write(fd.get(), value.data(), value.size()) < 0)
    throw errno_error(fmt::format("cgroup: write '{}' to {}", value, path));
}

CgroupLayout CgroupLayout::detect() {
  CgroupLayout layout;
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  while (std::getline(in, line)) {
    // "... mountpoint ... - fstype source superopts"
    std::istringstream ss(line);
    std::string f[5];
    for (auto& s : f) ss >> s;
    std::string mount_point = f[4];
    auto dash = line.find(" - ");
    if (dash == std::string::npos) continue;
    std::istringstream tail(line.substr(dash + 3));
    std::string fstype, source, opts;
    tail >> fstype >> source >> opts;
    if (fstype == "cgroup2") {
      if (layout.v2.empty()) layout.v2 = mount_point;
    } else if (fstype == "cgroup") {
      // One mount may carry several controllers (cpu,cpuacct): key each one.
      std::istringstream os(opts);
      std::string opt;
      while (std::getline(os, opt, ',')) {
        static const char* kKnown[] = {"cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio",
                                       "pids", "hugetlb", "net_cls", "net_prio", "perf_event", "rdma", "misc"};
        for (const char* k : kKnown)
          if (opt == k && !layout.v1.count(opt)) layout.v1[opt] = mount_point;
        if (opt.rfind("name=", 0) == 0 && !layout.v1.count(opt)) layout.v1[opt] = mount_point;
      }
    }
  }
  return layout;
}

std::string cgroup_relative_path(const std::string& cgroups_path, const std::string& id, bool systemd) {
  if (cgroups_path.empty()) return "/insula/" + id;
  if (systemd || (cgroups_path[0] != '/' && std::count(cgroups_path.begin(), cgroups_path.end(), ':') == 2)) {
    auto a = cgroups_path.find(':');
    auto b = cgroups_path.find(':', a + 1);
    if (a != std::string::npos && b != std::string::npos) {
      std::string slice = cgroups_path.substr(0, a), prefix = cgroups_path.substr(a + 1, b - a - 1),
                  name = cgroups_path.substr(b + 1);
      if (slice.empty()) slice = "system.slice";
      std::string unit = prefix.empty() ? name : prefix + "-" + name;
      if (unit.find(".slice") == std::string::npos) unit += ".scope";
      return "/" + slice + "/" + unit;
    }
  }
  if (cgroups_path.find("..") != std::string::npos)
    throw error("config.json: linux.cgroupsPath '{}' must not contain '..'", cgroups_path);
  return cgroups_path[0] == '/' ? cgroups_path : "/" + cgroups_path;
}

namespace {

// mkdir -p below `root`; for cpuset, each new level inherits its parent's cpus/mems
// (v1 leaves them empty, and an empty cpuset refuses tasks).
void make_dirs(const std::string& root, const std::string& rel, bool cpuset) {
  std::string path = root;
  std::istringstream ss(rel);
  std::string part;
  while (std::getline(ss, part, '/')) {
    if (part.empty()) continue;
    std::string parent = path;
    path += "/" + part;
    if (::mkdir(path.c_str(), 0755) != 0 && errno != EEXIST) throw errno_error(fmt::format("cgroup: mkdir {}", path));
    if (cpuset) {
      for (const char* f : {"cpuset.cpus", "cpuset.mems"}) {
        std::string cur = read_small_file(path + "/" + f);
        if (cur.find_first_not_of(" \n") == std::string::npos) {
          std::string v = read_small_file(parent + "/" + f);
          if (!v.empty()) write_cgroup_file(path, f, v);
        }
      }
    }
  }
}

// cgroup2: a controller's files appear in a group only when its parent lists
// the controller in cgroup.subtree_control, so enable, from the hierarchy's
// root down to the container's parent, every controller the level offers (as
// runc and crun do). One at a time: one the kernel refuses (a parent with
// processes of its own refuses domain controllers) must not block the others;
// a limit that needs it then fails with the file missing.
void enable_v2_controllers(const std::string& root, const std::string& rel) {
  std::string path = root;
  std::istringstream ss(rel);
  std::vector<std::string> parts;
  for (std::string part; std::getline(ss, part, '/');)
    if (!part.empty()) parts.push_back(part);
  for (size_t i = 0; i < parts.size(); ++i) {
    std::istringstream available(read_small_file(path + "/cgroup.controllers"));
    std::istringstream enabled_text(read_small_file(path + "/cgroup.subtree_control"));
    std::set<std::string> enabled{std::istream_iterator<std::string>(enabled_text), {}};
    for (std::string c; available >> c;) {
      if (enabled.count(c)) continue;
      try {
        write_cgroup_file(path, "cgroup.subtree_control", "+" + c);
      } catch (const Error&) {
      }
    }
    path += "/" + parts[i];
  }
}

}  // namespace

Cgroups Cgroups::create(const CgroupLayout& layout, const std::string& rel) {
  std::map<std::string, std::string> dirs;
  for (const auto& [key, mount] : layout.v1) {
    if (key == "net_cls" || key == "net_prio" || key == "perf_event" || key == "rdma" || key == "misc") continue;
    make_dirs(mount, rel, key == "cpuset");
    dirs[key] = mount + rel;
  }
  if (!layout.v2.empty()) {
    make_dirs(layout.v2, rel, false);
    // On hybrid hosts the cgroup2 side carries no limits (only `unified` keys).
    if (layout.pure_v2()) enable_v2_controllers(layout.v2, rel);
    dirs["unified"] = layout.v2 + rel;
  }
  return Cgroups(std::move(dirs));
}

std::string Cgroups::dir(const std::string& key) const {
  auto it = dirs_.find(key);
  return it == dirs_.end() ? std::string() : it->second;
}

void Cgroups::apply(const nlohmann::json& resources) const {
  if (resources.is_null() || resources.empty()) return;
  bool v1 = dirs_.size() > 1 || !dirs_.count("unified");
  if (v1) {
    apply_v1(resources);
    // Hybrid: only `unified` keys go to the cgroup2 side (it has no controllers).
    if (resources.contains("unified") && dirs_.count("unified")) {
      for (const auto& [k, v] : resources["unified"].items()) write_cgroup_file(dir("unified"), k, v.get<std::string>());
    }
  } else {
    apply_v2(dir("unified"), resources);
  }
}

void Cgroups::add_process(pid_t pid) const {
  for (const auto& [key, d] : dirs_) write_cgroup_file(d, "cgroup.procs", std::to_string(pid));
}

void Cgroups::join_self(bool skip_unified) const {
  for (const auto& [key, d] : dirs_) {
    if (key != "unified")
      write_cgroup_file(d, "tasks", "0");
    else if (!skip_unified)
      write_cgroup_file(d, "cgroup.procs", "0");
  }
}

bool Cgroups::frozen() const {
  if (auto f = dir("freezer"); !f.empty()) return read_small_file(f + "/freezer.state").rfind("FROZEN", 0) == 0;
  if (dirs_.size() == 1 && !dir("unified").empty())
    return read_small_file(dir("unified") + "/cgroup.freeze").rfind("1", 0) == 0;
  return false;
}

void Cgroups::freeze(bool on) const {
  if (auto f = dir("freezer"); !f.empty()) {
    write_cgroup_file(f, "freezer.state", on ? "FROZEN" : "THAWED");
    // FREEZING is transient: wait (bounded) until the kernel reports the end state.
    for (int i = 0; i < 1000; ++i) {
      std::string s = read_small_file(f + "/freezer.state");
      if (s.rfind(on ? "FROZEN" : "THAWED", 0) == 0) return;
      if (on && i % 50 == 49) write_cgroup_file(f, "freezer.state", "FROZEN");
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    throw error("cgroup: {} did not become {} in time", f, on ? "FROZEN" : "THAWED");
  }
  if (auto u = dir("unified"); !u.empty() && dirs_.size() == 1) {
    write_cgroup_file(u, "cgroup.freeze", on ? "1" : "0");
    // Freezing completes asynchronously: cgroup.events says when ("frozen 1").
    std::string want = on ? "frozen 1" : "frozen 0";
    for (int i = 0; i < 1000; ++i) {
      if (read_small_file(u + "/cgroup.events").find(want) != std::string::npos) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    throw error("cgroup: {} did not become {} in time", u, on ? "frozen" : "thawed");
  }
  throw error("cgroup: no freezer available for this container; pause needs the freezer controller or cgroup2");
}

std::vector<pid_t> Cgroups::pids() const {
  std::string d = dir("pids");
  if (d.empty()) d = dir("memory");
  if (d.empty()) d = dir("unified");
  if (d.empty() && !dirs_.empty()) d = dirs_.begin()->second;
  std::vector<pid_t> out;
  std::istringstream ss(read_small_file(d + "/cgroup.procs"));
  pid_t p;
  while (ss >> p) out.push_back(p);
  return out;
}

void Cgroups::kill_all(int sig) const {
  for (pid_t p : pids()) ::kill(p, sig);
}

void Cgroups::destroy() const {
  if (dirs_.empty()) return;
  bool was_frozen = false;
  try {
    was_frozen = frozen();
  } catch (...) {
  }
  for (int attempt = 0; attempt < 200; ++attempt) {
    auto left = pids();
    if (left.empty()) break;
    for (pid_t p : left) ::kill(p, SIGKILL);
    if (was_frozen && attempt == 0) {
      try {
        freeze(false);
      } catch (...) {
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  for (const auto& [key, d] : dirs_) {
    for (int attempt = 0; attempt < 100; ++attempt) {
      if (::rmdir(d.c_str()) == 0 || errno == ENOENT) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
}

}  // namespace insula::container
