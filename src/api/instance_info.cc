// GET / (instance info, as Firecracker) and GET /version.
#include "api/endpoints.h"

namespace insula::api {

void add_instance_info_routes(Router& r, VmmService& vm) {
  r.add("GET", "/", [&vm](const Request&) {
    nlohmann::json j{{"id", vm.id()}, {"state", state_name(vm.state())}, {"vmm_version", INSULA_VERSION},
                     {"app_name", "insula"}};
    return Response{200, j, {}, {}};
  });
  r.add("GET", "/version", [](const Request&) {
    return Response{200, nlohmann::json{{"firecracker_version", INSULA_VERSION}, {"vmm_version", INSULA_VERSION}}, {}, {}};
  });
}

}  // namespace insula::api
