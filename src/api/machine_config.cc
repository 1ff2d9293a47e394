// PUT/PATCH/GET /machine-config {vcpu_count, mem_size_mib}.
#include "api/api_error.h"
#include "api/endpoints.h"
#include "api/json_body.h"

namespace insula::api {

namespace {
Response apply(VmmService& vm, const Request& req, bool require_all) {
  vm.require_not_started("the machine config");
  auto o = parse_object(req.body, {"vcpu_count", "mem_size_mib"});
  auto cpus = uint_field(o, "vcpu_count", 1, kMaxVcpus);
  auto mib = uint_field(o, "mem_size_mib", 1, kMaxMemMib);
  if (require_all && (!cpus || !mib)) throw bad_request("vcpu_count and mem_size_mib are both required");
  if (cpus) vm.config().cpus = static_cast<uint32_t>(*cpus);
  if (mib) vm.config().memory = *mib << 20;
  return Response{204, std::nullopt, {}, {}};
}
}  // namespace

void add_machine_config_routes(Router& r, VmmService& vm) {
  r.add("PUT", "/machine-config", [&vm](const Request& req) { return apply(vm, req, true); });
  r.add("PATCH", "/machine-config", [&vm](const Request& req) { return apply(vm, req, false); });
  r.add("GET", "/machine-config", [&vm](const Request&) {
    nlohmann::json j{{"vcpu_count", vm.config().cpus}, {"mem_size_mib", vm.config().memory >> 20}};
    return Response{200, j, {}, {}};
  });
}

}  // namespace insula::api
