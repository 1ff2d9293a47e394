// PUT /boot-source {kernel_image_path, initrd_path, boot_args}; GET returns it.
#include <unistd.h>

#include "api/api_error.h"
#include "api/endpoints.h"
#include "api/json_body.h"

namespace insula::api {

namespace {
void require_readable(const std::string& path, const char* field) {
  if (::access(path.c_str(), R_OK) != 0) throw bad_request("{} {} is not a readable file", field, path);
}
}  // namespace

void add_boot_source_routes(Router& r, VmmService& vm) {
  r.add("PUT", "/boot-source", [&vm](const Request& req) {
    vm.require_not_started("the boot source");
    auto o = parse_object(req.body, {"kernel_image_path", "initrd_path", "boot_args"});
    std::string kernel = required_string(o, "kernel_image_path");
    std::string initrd = string_field(o, "initrd_path").value_or("");
    require_readable(kernel, "kernel_image_path");
    if (!initrd.empty()) require_readable(initrd, "initrd_path");
    vm.config().kernel = kernel;
    vm.config().initrd = initrd;
    vm.config().cmdline = string_field(o, "boot_args").value_or("");
    vm.mark_boot_source_set();
    return Response{204, std::nullopt, {}, {}};
  });
  r.add("GET", "/boot-source", [&vm](const Request&) {
    if (!vm.boot_source_set()) throw ApiError(404, "no boot source has been set");
    nlohmann::json j{{"kernel_image_path", vm.config().kernel}, {"boot_args", vm.config().cmdline}};
    if (!vm.config().initrd.empty()) j["initrd_path"] = vm.config().initrd;
    return Response{200, j, {}, {}};
  });
}

}  // namespace insula::api
