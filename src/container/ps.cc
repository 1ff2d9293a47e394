// `ps`: the pids in the container's cgroup.
#include "base/error.h"
#include "container/runtime.h"

namespace insula::container {

std::vector<pid_t> container_pids(const Runtime& rt, const std::string& id) {
  ContainerRecord rec = load_record(rt, id);
  return Cgroups(rec.cgroup_dirs).pids();
}

}  // namespace insula::container
