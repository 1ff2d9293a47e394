// PATCH /vm {state: Paused | Resumed}.
#include "api/api_error.h"
#include "api/endpoints.h"
#include "api/json_body.h"

namespace insula::api {

void add_vm_state_routes(Router& r, VmmService& vm) {
  r.add("PATCH", "/vm", [&vm](const Request& req) {
    auto o = parse_object(req.body, {"state"});
    std::string state = required_string(o, "state");
    if (state == "Paused") vm.pause();
    else if (state == "Resumed") vm.resume();
    else throw bad_request("unknown state \"{}\" (Paused, Resumed)", state);
    return Response{204, std::nullopt, {}, {}};
  });
}

}  // namespace insula::api
