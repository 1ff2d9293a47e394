// `pause` / `resume`: the cgroup freezer.
#include "base/error.h"
#include "container/runtime.h"

namespace insula::container {

void pause_container(const Runtime& rt, const std::string& id) {
  ContainerRecord rec = load_record(rt, id);
  Status s = container_status(rt, rec);
  if (s != Status::kRunning && s != Status::kCreated) throw error("container not running");
  Cgroups(rec.cgroup_dirs).freeze(true);
}

void resume_container(const Runtime& rt, const std::string& id) {
  ContainerRecord rec = load_record(rt, id);
  if (container_status(rt, rec) != Status::kPaused) throw error("container not paused");
  Cgroups(rec.cgroup_dirs).freeze(false);
}

}  // namespace insula::container
