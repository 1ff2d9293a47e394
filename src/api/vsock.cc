// PUT /vsock {guest_cid, uds_path}: the virtio-vsock device, before
// InstanceStart; a second PUT replaces the first (as Firecracker).
#include "api/device_bodies.h"
#include "api/endpoints.h"

namespace insula::api {

void add_vsock_routes(Router& r, VmmService& vm) {
  r.add("PUT", "/vsock", [&vm](const Request& req) {
    vm.require_not_started("the vsock device");
    vm.config().vsock = parse_vsock_body(req.body);
    return Response{204, std::nullopt, {}, {}};
  });
}

}  // namespace insula::api
