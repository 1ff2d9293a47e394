// PUT /actions {action_type}: InstanceStart; SendCtrlAltDel (Firecracker's:
// the keys on the PS/2 keyboard, which Linux turns into a reboot or, when
// init asks for it, a signal to init); SendPowerButton (insula's: the ACPI
// power button). `insula vm stop` uses either for a graceful stop.
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
      vm.send_ctrl_alt_del();
    } else {
      throw bad_request("unknown action_type \"{}\" (InstanceStart, SendPowerButton, SendCtrlAltDel)", action);
    }
    return Response{204, std::nullopt, {}, {}};
  });
}

}  // namespace insula::api
