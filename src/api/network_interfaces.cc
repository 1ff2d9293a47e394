// PUT /network-interfaces/{iface_id}: add or replace a virtio-net interface
// on a tap device before InstanceStart (Firecracker's body).
// PATCH /network-interfaces/{iface_id}: new rx/tx rate limiters on a started
// VM, as Firecracker.
#include <algorithm>

#include "api/api_error.h"
#include "api/device_bodies.h"
#include "api/endpoints.h"

namespace insula::api {

void add_network_interfaces_routes(Router& r, VmmService& vm) {
  r.add("PUT", "/network-interfaces/{iface_id}", [&vm](const Request& req) {
    vm.require_not_started("network interfaces");
    NetBody n = parse_net_body(req.body, path_id(req));
    auto& ids = vm.device_ids().ifaces;
    auto& nets = vm.config().nets;
    for (size_t i = 0; i < ids.size(); ++i) {
      if (ids[i] == n.iface_id) continue;
      if (nets[i].tap == n.net.tap) throw bad_request("interface {} already uses tap {}", ids[i], n.net.tap);
      if (!n.net.mac.empty() && nets[i].mac == n.net.mac)
        throw bad_request("interface {} already has MAC {}", ids[i], n.net.mac);
    }
    for (size_t i = 0; i < ids.size(); ++i) {
      if (ids[i] == n.iface_id) {
        nets[i] = n.net;
        return Response{204, std::nullopt, {}, {}};
      }
    }
    if (ids.size() >= kMaxIfaces) throw bad_request("at most {} network interfaces", kMaxIfaces);
    ids.push_back(n.iface_id);
    nets.push_back(n.net);
    return Response{204, std::nullopt, {}, {}};
  });

  r.add("PATCH", "/network-interfaces/{iface_id}", [&vm](const Request& req) {
    std::string id = path_id(req);
    NetPatch p = parse_net_patch(req.body, id);
    const auto& ids = vm.device_ids().ifaces;
    auto it = std::find(ids.begin(), ids.end(), id);
    if (it == ids.end())
      throw bad_request("there is no network interface \"{}\": PUT /network-interfaces/{} adds one before InstanceStart",
                        id, id);
    size_t i = static_cast<size_t>(it - ids.begin());
    vmm::Machine* m = vm.running_machine();
    if (!m) throw conflict("PATCH /network-interfaces changes a started VM: before InstanceStart use PUT /network-interfaces/{}", id);
    m->set_net_rate_limiters(i, p.rx, p.tx);
    if (p.rx) vm.config().nets[i].rx_rate_limiter = *p.rx;
    if (p.tx) vm.config().nets[i].tx_rate_limiter = *p.tx;
    return Response{204, std::nullopt, {}, {}};
  });
}

}  // namespace insula::api
