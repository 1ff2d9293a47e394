// The API's endpoint families, one file each; vmm_api.cc puts them together.
#pragma once

#include "api/http_server.h"
#include "api/router.h"
#include "api/vmm_service.h"

namespace insula::api {

void add_boot_source_routes(Router& r, VmmService& vm);     // boot_source.cc
void add_machine_config_routes(Router& r, VmmService& vm);  // machine_config.cc
void add_actions_routes(Router& r, VmmService& vm);         // actions.cc
void add_vm_state_routes(Router& r, VmmService& vm);        // vm_state.cc
void add_instance_info_routes(Router& r, VmmService& vm);   // instance_info.cc
void add_metrics_routes(Router& r, VmmService& vm, const ConsoleHub& console, const HttpServer* const& server);  // metrics.cc
void add_shutdown_routes(Router& r, VmmService& vm);        // shutdown.cc
void add_snapshot_routes(Router& r, VmmService& vm);        // snapshot.cc
void add_drives_routes(Router& r, VmmService& vm);          // drives.cc
void add_network_interfaces_routes(Router& r, VmmService& vm);  // network_interfaces.cc
void add_vsock_routes(Router& r, VmmService& vm);           // vsock.cc
void add_balloon_routes(Router& r, VmmService& vm, boost::asio::io_context& io);  // balloon.cc
void add_vm_config_routes(Router& r, VmmService& vm);       // vm_config.cc

// Limits the API enforces (documented in docs/api/openapi.yaml).
constexpr uint64_t kMaxVcpus = 32;
constexpr uint64_t kMaxMemMib = 1 << 20;  // 1 TiB; the host's real limit is checked at start
constexpr size_t kMaxDrives = 16;  // with the other devices, bus 0's 31 slots
constexpr size_t kMaxIfaces = 8;

}  // namespace insula::api
