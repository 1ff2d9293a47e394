// PUT /shutdown: stop the VM and end the VMM process, after answering.
#include "api/endpoints.h"
#include "api/json_body.h"

namespace insula::api {

void add_shutdown_routes(Router& r, VmmService& vm) {
  r.add("PUT", "/shutdown", [&vm](const Request& req) {
    if (!req.body.empty()) parse_object(req.body, {});
    return Response{204, std::nullopt, {}, [&vm] { vm.shutdown(); }};
  });
}

}  // namespace insula::api
