// GET /vm/config: the whole configuration as Firecracker shows it (the
// bodies the configuring requests took), so a client can check what it set.
#include "api/device_bodies.h"
#include "api/endpoints.h"

namespace insula::api {

void add_vm_config_routes(Router& r, VmmService& vm) {
  r.add("GET", "/vm/config", [&vm](const Request&) {
    const auto& c = vm.config();
    const auto& ids = vm.device_ids();
    nlohmann::json j{{"machine-config", {{"vcpu_count", c.cpus}, {"mem_size_mib", c.memory >> 20}}},
                     {"drives", nlohmann::json::array()},
                     {"network-interfaces", nlohmann::json::array()},
                     {"vsock", nullptr},
                     {"balloon", nullptr},
                     {"boot-source", nullptr}};
    if (vm.boot_source_set()) {
      j["boot-source"] = {{"kernel_image_path", c.kernel}, {"boot_args", c.cmdline}};
      if (!c.initrd.empty()) j["boot-source"]["initrd_path"] = c.initrd;
    }
    for (size_t i = 0; i < ids.drives.size(); ++i)
      j["drives"].push_back(drive_body({ids.drives[i], i == 0 && ids.has_root, c.disks[i]}));
    for (size_t i = 0; i < ids.ifaces.size(); ++i) j["network-interfaces"].push_back(net_body({ids.ifaces[i], c.nets[i]}));
    if (c.vsock) j["vsock"] = vsock_body(*c.vsock);
    if (c.balloon) j["balloon"] = balloon_body(*c.balloon);
    return Response{200, j, {}, {}};
  });
}

}  // namespace insula::api
