// Container records on disk and their status.
#include "container/state.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "base/error.h"
#include "base/fd.h"

namespace insula::container {

const char* status_name(Status s) {
  switch (s) {
    case Status::kCreating: return "creating";
    case Status::kCreated: return "created";
    case Status::kRunning: return "running";
    case Status::kPaused: return "paused";
    case Status::kStopped: return "stopped";
  }
  return "unknown";
}

void check_container_id(const std::string& id) {
  if (id.empty()) throw error("container id cannot be empty");
  for (char c : id)
    if (!(isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.' || c == '+'))
      throw error("invalid id format: {}", id);
  if (id == "." || id == "..") throw error("invalid id format: {}", id);
}

std::string exec_fifo_path(const Runtime& rt, const std::string& id) { return rt.container_dir(id) + "/exec.fifo"; }

std::string now_rfc3339() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  tm t{};
  gmtime_r(&ts.tv_sec, &t);
  char buf[64];
  strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &t);
  return fmt::format("{}.{:09d}Z", buf, ts.tv_nsec);
}

void save_record(const Runtime& rt, const ContainerRecord& r) {
  nlohmann::json j = {{"id", r.id},           {"pid", r.pid},         {"pid_start", r.pid_start},
                      {"bundle", r.bundle},   {"rootfs", r.rootfs},   {"created", r.created},
                      {"annotations", r.annotations}, {"cgroup_dirs", r.cgroup_dirs}, {"owner", r.owner},
                      {"systemd_cgroup", r.systemd_cgroup}};
  std::string dir = rt.container_dir(r.id);
  std::string tmp = dir + "/state.json.tmp", final_path = dir + "/state.json";
  {
    std::ofstream out(tmp);
    out << j.dump();
    if (!out) throw errno_error(fmt::format("write {}", tmp));
  }
  if (::rename(tmp.c_str(), final_path.c_str()) != 0) throw errno_error(fmt::format("rename {}", tmp));
}

bool record_exists(const Runtime& rt, const std::string& id) {
  return ::access((rt.container_dir(id) + "/state.json").c_str(), F_OK) == 0;
}

ContainerRecord load_record(const Runtime& rt, const std::string& id) {
  check_container_id(id);
  std::ifstream in(rt.container_dir(id) + "/state.json");
  if (!in) throw error("container {} does not exist", id);
  nlohmann::json j;
  try {
    in >> j;
    ContainerRecord r;
    r.id = j.at("id");
    r.pid = j.at("pid");
    r.pid_start = j.at("pid_start");
    r.bundle = j.at("bundle");
    r.rootfs = j.at("rootfs");
    r.created = j.at("created");
    r.annotations = j.at("annotations");
    r.cgroup_dirs = j.at("cgroup_dirs");
    r.owner = j.value("owner", "");
    r.systemd_cgroup = j.value("systemd_cgroup", false);
    return r;
  } catch (const nlohmann::json::exception& e) {
    throw error("container {}: corrupt state file: {}; `delete --force {}` removes it", id, e.what(), id);
  }
}

std::vector<std::string> list_ids(const Runtime& rt) {
  std::vector<std::string> ids;
  DIR* d = ::opendir(rt.root.c_str());
  if (!d) return ids;
  while (dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    if (record_exists(rt, name)) ids.push_back(name);
  }
  ::closedir(d);
  std::sort(ids.begin(), ids.end());
  return ids;
}

unsigned long long process_start_time(pid_t pid) {
  if (pid <= 0) return 0;
  std::ifstream in(fmt::format("/proc/{}/stat", pid));
  std::string s;
  if (!std::getline(in, s)) return 0;
  // Fields after the last ')' : state is field 3, starttime field 22.
  auto p = s.rfind(')');
  if (p == std::string::npos) return 0;
  std::istringstream ss(s.substr(p + 2));
  std::string state;
  ss >> state;
  if (state == "Z" || state == "X") return 0;
  std::string skip;
  for (int i = 0; i < 18; ++i) ss >> skip;
  unsigned long long start = 0;
  ss >> start;
  return start;
}

bool process_alive(pid_t pid, unsigned long long start) {
  unsigned long long now = process_start_time(pid);
  return now != 0 && (start == 0 || now == start);
}

Status container_status(const Runtime& rt, const ContainerRecord& r) {
  if (r.pid == 0) return Status::kCreating;
  if (!process_alive(r.pid, r.pid_start)) return Status::kStopped;
  Cgroups cg(r.cgroup_dirs);
  if (cg.frozen()) return Status::kPaused;
  if (::access(exec_fifo_path(rt, r.id).c_str(), F_OK) == 0) return Status::kCreated;
  return Status::kRunning;
}

nlohmann::json state_json(const Runtime& rt, const ContainerRecord& r) {
  Status s = container_status(rt, r);
  nlohmann::json j = {{"ociVersion", "1.0.2"},
                      {"id", r.id},
                      {"status", status_name(s)},
                      {"pid", s == Status::kStopped ? 0 : r.pid},
                      {"bundle", r.bundle},
                      {"rootfs", r.rootfs},
                      {"created", r.created},
                      {"owner", r.owner}};
  if (!r.annotations.empty()) j["annotations"] = r.annotations;
  return j;
}

}  // namespace insula::container
