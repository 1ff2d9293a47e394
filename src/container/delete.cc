// `delete`: removes a stopped (or, with --force, any) container: its
// processes, cgroups and state; poststop hooks run last.
#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <optional>
#include <thread>

#include "base/error.h"
#include "container/hooks.h"
#include "container/runtime.h"

namespace insula::container {

bool wait_gone(pid_t pid, unsigned long long start, int timeout_ms) {
  for (int i = 0; i < timeout_ms; ++i) {
    if (!process_alive(pid, start)) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return !process_alive(pid, start);
}

void remove_tree(const std::string& path) {
  if (DIR* d = ::opendir(path.c_str())) {
    while (dirent* e = ::readdir(d)) {
      std::string name = e->d_name;
      if (name == "." || name == "..") continue;
      std::string p = path + "/" + name;
      struct stat st {};
      if (::lstat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode))
        remove_tree(p);
      else
        ::unlink(p.c_str());
    }
    ::closedir(d);
  }
  ::rmdir(path.c_str());
}

void delete_container(const Runtime& rt, const std::string& id, bool force, const Config* config) {
  check_container_id(id);
  if (!record_exists(rt, id)) {
    // A half-created container (no state yet) is still removable with --force.
    if (force) {
      remove_tree(rt.container_dir(id));
      return;
    }
    throw error("container {} does not exist", id);
  }
  ContainerRecord rec = load_record(rt, id);
  Status s = container_status(rt, rec);
  Cgroups cg(rec.cgroup_dirs);
  if ((s == Status::kRunning || s == Status::kPaused) && !force)
    throw error("cannot delete container {} that is not stopped: {}", id, status_name(s));
  if (s != Status::kStopped && s != Status::kCreating) {
    ::kill(rec.pid, SIGKILL);
    if (s == Status::kPaused) cg.freeze(false);
    wait_gone(rec.pid, rec.pid_start, 5000);
  }
  cg.destroy();
  try {
    std::optional<Config> loaded;
    const Config& c = config ? *config : loaded.emplace(load_config(rec.bundle));
    if (!c.hooks.poststop.empty()) run_hooks(c.hooks.poststop, "poststop", state_json(rt, rec).dump());
  } catch (const Error& e) {
    fmt::print(stderr, "insula-runc: warning: poststop: {}\n", e.what());
  }
  remove_tree(rt.container_dir(id));
}

}  // namespace insula::container
