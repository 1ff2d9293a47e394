// `update`: new cgroup limits for a live container.
#include "base/error.h"
#include "container/runtime.h"

namespace insula::container {

void update_container(const Runtime& rt, const std::string& id, const nlohmann::json& resources) {
  ContainerRecord rec = load_record(rt, id);
  if (container_status(rt, rec) == Status::kStopped) throw error("container not running");
  if (!resources.is_object()) throw error("update: resources must be a JSON object (linux.resources)");
  Cgroups(rec.cgroup_dirs).apply(resources);
}

}  // namespace insula::container
