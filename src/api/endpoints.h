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

// Limits the API enforces (documented in docs/api/openapi.yaml).
constexpr uint64_t kMaxVcpus = 32;
constexpr uint64_t kMaxMemMib = 1 << 20;  // 1 TiB; the host's real limit is checked at start

}  // namespace insula::api
