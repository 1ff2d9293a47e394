// PUT /actions {action_type}: InstanceStart; SendPowerButton (insula's: the
// ACPI power button, what `insula vm stop` uses for a graceful stop).
// SendCtrlAltDel is refused: the machine has no PS/2 keyboard to send it on.
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
    } else if (action == "SendPowerButton") {
      vm.press_power_button();
    } else if (action == "SendCtrlAltDel") {
      if (vm.state() == VmState::kNotStarted) throw conflict("the VM is not started");
      throw bad_request(
          "SendCtrlAltDel is not supported (this machine has no PS/2 keyboard): use SendPowerButton for a graceful "
          "shutdown, PUT /shutdown to stop at once");
    } else {
      throw bad_request("unknown action_type \"{}\" (InstanceStart, SendPowerButton, SendCtrlAltDel)", action);
    }
    return Response{204, std::nullopt, {}, {}};
  });
}

}  // namespace insula::api
