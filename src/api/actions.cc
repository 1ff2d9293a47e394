// PUT /actions {action_type}: InstanceStart; SendCtrlAltDel is refused until
// the Machine offers key injection (the i8042 is not reachable from here).
#include "api/api_error.h"
#include "api/endpoints.h"
#include "api/json_body.h"

namespace insula::api {

void add_actions_routes(Router& r, VmmService& vm) {
  r.add("PUT", "/actions", [&vm](const Request& req) {
    auto o = parse_object(req.body, {"action_type"});
    std::string action = required_string(o, "action_type");
    if (action == "InstanceStart") {
      vm.start();
    } else if (action == "SendCtrlAltDel") {
      if (vm.state() == VmState::kNotStarted) throw conflict("the VM is not started");
      throw bad_request("SendCtrlAltDel is not supported by this VMM yet: use PUT /shutdown");
    } else {
      throw bad_request("unknown action_type \"{}\" (InstanceStart, SendCtrlAltDel)", action);
    }
    return Response{204, std::nullopt, {}, {}};
  });
}

}  // namespace insula::api
