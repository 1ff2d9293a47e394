// The runtime's record of one container under --root/<id>/, and the
// runtime-spec state (id, status, pid, bundle, annotations) derived from it.
#pragma once

#include <sys/types.h>

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "container/cgroups.h"

namespace insula::container {

// Global options every verb shares (runc's global flags).
struct Runtime {
  std::string root = "/run/insula-runc";
  bool systemd_cgroup = false;
  std::string container_dir(const std::string& id) const { return root + "/" + id; }
};

struct ContainerRecord {
  std::string id;
  pid_t pid = 0;
  unsigned long long pid_start = 0;  // /proc/<pid>/stat starttime: guards against pid reuse
  std::string bundle;
  std::string rootfs;
  std::string created;  // RFC 3339
  std::map<std::string, std::string> annotations;
  std::map<std::string, std::string> cgroup_dirs;
  std::string owner = "";
  bool systemd_cgroup = false;
};

enum class Status { kCreating, kCreated, kRunning, kPaused, kStopped };
const char* status_name(Status s);

void check_container_id(const std::string& id);
void save_record(const Runtime& rt, const ContainerRecord& r);
// Throws "container <id> does not exist" when there is no record.
ContainerRecord load_record(const Runtime& rt, const std::string& id);
bool record_exists(const Runtime& rt, const std::string& id);
std::vector<std::string> list_ids(const Runtime& rt);

Status container_status(const Runtime& rt, const ContainerRecord& r);
bool process_alive(pid_t pid, unsigned long long start);
unsigned long long process_start_time(pid_t pid);  // 0 when gone

// The runtime-spec state JSON.
nlohmann::json state_json(const Runtime& rt, const ContainerRecord& r);

std::string exec_fifo_path(const Runtime& rt, const std::string& id);
std::string now_rfc3339();

}  // namespace insula::container
