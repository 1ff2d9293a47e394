// The Firecracker-style request bodies of the device endpoints (PUT /drives,
// /network-interfaces, /vsock, /balloon) and the vmm configs they stand for,
// both ways: the VMM parses them (strictly, as hostile input), `insula vm`
// writes them from its --disk/--net/--vsock/--balloon options.
#pragma once

#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "vmm/machine_config.h"

namespace insula::api {

struct DriveBody {
  std::string drive_id;
  bool is_root_device = false;
  vmm::DiskConfig disk;
};

struct NetBody {
  std::string iface_id;
  vmm::NetConfig net;
};

// An id in a path ("/drives/{drive_id}"): 1-64 of [A-Za-z0-9_-].
void check_device_id(const std::string& id, const char* what);

// Parse and check a body; throw ApiError(400) on anything wrong. The id in
// the body must equal the one in the path.
DriveBody parse_drive_body(const std::string& body, const std::string& path_id);
NetBody parse_net_body(const std::string& body, const std::string& path_id);
vmm::VsockConfig parse_vsock_body(const std::string& body);
vmm::BalloonConfig parse_balloon_body(const std::string& body);

// Firecracker's rate_limiter object under `key` ({"bandwidth": {"size",
// "one_time_burst", "refill_time"}, "ops": {...}}; refill_time in ms).
// Absent or null: no limit.
virtio::RateLimiterConfig parse_rate_limiter(const nlohmann::json& o, const char* key);
nlohmann::json rate_limiter_body(const virtio::RateLimiterConfig& r);

// PATCH /drives/{id} (path_on_host, rate_limiter) and
// PATCH /network-interfaces/{id} (rx_rate_limiter, tx_rate_limiter): what a
// running VM may change; an absent field stays as it is.
struct DrivePatch {
  std::optional<std::string> path;
  std::optional<virtio::RateLimiterConfig> rate_limiter;
};
struct NetPatch {
  std::optional<virtio::RateLimiterConfig> rx, tx;
};
DrivePatch parse_drive_patch(const std::string& body, const std::string& path_id);
NetPatch parse_net_patch(const std::string& body, const std::string& path_id);

nlohmann::json drive_body(const DriveBody& d);
nlohmann::json net_body(const NetBody& n);
nlohmann::json vsock_body(const vmm::VsockConfig& v);
nlohmann::json balloon_body(const vmm::BalloonConfig& b);

}  // namespace insula::api
