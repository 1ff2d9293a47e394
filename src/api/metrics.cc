// GET /metrics: uptimes, console traffic and API request counts.
#include "api/endpoints.h"

namespace insula::api {

namespace {
double seconds(std::chrono::steady_clock::duration d) { return std::chrono::duration<double>(d).count(); }
}  // namespace

void add_metrics_routes(Router& r, VmmService& vm, const ConsoleHub& console, const HttpServer* const& server) {
  r.add("GET", "/metrics", [&vm, &console, &server](const Request&) {
    auto guest = vm.guest_uptime();
    nlohmann::json j{{"vmm_uptime_s", seconds(vm.vmm_uptime())},
                     {"guest_uptime_s", guest ? nlohmann::json(seconds(*guest)) : nlohmann::json(nullptr)},
                     {"console_bytes_out", console.bytes_out()},
                     {"console_bytes_in", console.bytes_in()},
                     {"console_clients", console.clients()},
                     {"api_requests", server ? server->requests() : 0}};
    return Response{200, j, {}, {}};
  });
}

}  // namespace insula::api
