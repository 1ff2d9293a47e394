// Device request bodies <-> vmm configs; the checks are vmm/device_options'.
#include "api/device_bodies.h"

#include <unistd.h>

#include "api/api_error.h"
#include "api/json_body.h"
#include "base/error.h"
#include "vmm/device_options.h"

namespace insula::api {

namespace {
// The shared checks throw insula::Error; here they are the caller's 400.
template <typename F>
void checked(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    throw bad_request("{}", e.what());
  }
}

void require_same_id(const std::string& body_id, const std::string& path_id, const char* field) {
  if (body_id != path_id) throw bad_request("\"{}\" \"{}\" differs from the id in the path \"{}\"", field, body_id, path_id);
}
}  // namespace

namespace {
// Bounds that keep the token arithmetic exact (budgets are signed 64-bit).
constexpr uint64_t kMaxTokens = INT64_MAX;
constexpr uint64_t kMaxRefillMs = 24ull * 3600 * 1000;

virtio::TokenBucketConfig parse_bucket(const nlohmann::json& limiter, const char* key) {
  auto b = object_field(limiter, key, {"size", "one_time_burst", "refill_time"});
  if (!b) return {};
  virtio::TokenBucketConfig c;
  auto size = uint_field(*b, "size", 0, kMaxTokens);
  auto refill = uint_field(*b, "refill_time", 0, kMaxRefillMs);
  if (!size || !refill) throw bad_request("\"{}\" needs \"size\" and \"refill_time\" (milliseconds)", key);
  c.size = *size;
  c.refill_time_ms = *refill;
  c.one_time_burst = uint_field(*b, "one_time_burst", 0, kMaxTokens).value_or(0);
  return c;
}

nlohmann::json bucket_body(const virtio::TokenBucketConfig& b) {
  return {{"size", b.size}, {"one_time_burst", b.one_time_burst}, {"refill_time", b.refill_time_ms}};
}
}  // namespace

virtio::RateLimiterConfig parse_rate_limiter(const nlohmann::json& o, const char* key) {
  auto r = object_field(o, key, {"bandwidth", "ops"});
  if (!r) return {};
  return {parse_bucket(*r, "bandwidth"), parse_bucket(*r, "ops")};
}

nlohmann::json rate_limiter_body(const virtio::RateLimiterConfig& r) {
  nlohmann::json j = nlohmann::json::object();
  if (r.bandwidth.enabled()) j["bandwidth"] = bucket_body(r.bandwidth);
  if (r.ops.enabled()) j["ops"] = bucket_body(r.ops);
  return j;
}

DrivePatch parse_drive_patch(const std::string& body, const std::string& path_id) {
  check_device_id(path_id, "drive_id");
  auto o = parse_object(body, {"drive_id", "path_on_host", "rate_limiter"});
  require_same_id(required_string(o, "drive_id"), path_id, "drive_id");
  DrivePatch p;
  p.path = string_field(o, "path_on_host");
  if (p.path && p.path->empty()) throw bad_request("\"path_on_host\" is empty");
  if (o.contains("rate_limiter")) p.rate_limiter = parse_rate_limiter(o, "rate_limiter");
  return p;
}

NetPatch parse_net_patch(const std::string& body, const std::string& path_id) {
  check_device_id(path_id, "iface_id");
  auto o = parse_object(body, {"iface_id", "rx_rate_limiter", "tx_rate_limiter"});
  require_same_id(required_string(o, "iface_id"), path_id, "iface_id");
  NetPatch p;
  if (o.contains("rx_rate_limiter")) p.rx = parse_rate_limiter(o, "rx_rate_limiter");
  if (o.contains("tx_rate_limiter")) p.tx = parse_rate_limiter(o, "tx_rate_limiter");
  return p;
}

void check_device_id(const std::string& id, const char* what) {
  bool ok = !id.empty() && id.size() <= 64;
  for (char c : id) ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-');
  if (!ok) throw bad_request("invalid {} \"{}\": use 1-64 letters, digits, '_' or '-'", what, id);
}

DriveBody parse_drive_body(const std::string& body, const std::string& path_id) {
  check_device_id(path_id, "drive_id");
  auto o = parse_object(body, {"drive_id", "path_on_host", "is_root_device", "is_read_only", "cache_type", "serial",
                               "format", "rate_limiter", "io_engine"});
  DriveBody d;
  d.drive_id = required_string(o, "drive_id");
  require_same_id(d.drive_id, path_id, "drive_id");
  d.disk.path = required_string(o, "path_on_host");
  auto root = bool_field(o, "is_root_device");
  if (!root) throw bad_request("\"is_root_device\" is required");
  d.is_root_device = *root;
  d.disk.read_only = bool_field(o, "is_read_only").value_or(false);
  // Firecracker's Unsafe and Writeback both mean the host page cache here
  // (insula always honours the guest's flushes); Direct is insula's O_DIRECT.
  std::string cache = string_field(o, "cache_type").value_or("Unsafe");
  if (cache == "Direct") d.disk.direct = true;
  else if (cache != "Unsafe" && cache != "Writeback")
    throw bad_request("unknown cache_type \"{}\" (Unsafe, Writeback, Direct)", cache);
  // Firecracker's io_engine; Async (io_uring for raw Direct drives) is the
  // default here, Sync sends every request to the worker threads.
  std::string engine = string_field(o, "io_engine").value_or("Async");
  if (engine != "Async" && engine != "Sync") throw bad_request("unknown io_engine \"{}\" (Async, Sync)", engine);
  d.disk.io_uring = engine == "Async";
  d.disk.serial = string_field(o, "serial").value_or("");
  if (d.disk.serial.size() > 20) throw bad_request("\"serial\" is longer than 20 bytes");
  d.disk.format = string_field(o, "format").value_or("");
  if (!d.disk.format.empty() && d.disk.format != "raw" && d.disk.format != "qcow2")
    throw bad_request("unknown format \"{}\" (raw, qcow2; leave it out to detect)", d.disk.format);
  d.disk.rate_limiter = parse_rate_limiter(o, "rate_limiter");
  int mode = d.disk.read_only ? R_OK : R_OK | W_OK;
  if (::access(d.disk.path.c_str(), mode) != 0)
    throw bad_request("path_on_host {} is not a {} file", d.disk.path, d.disk.read_only ? "readable" : "readable and writable");
  return d;
}

NetBody parse_net_body(const std::string& body, const std::string& path_id) {
  check_device_id(path_id, "iface_id");
  auto o = parse_object(body, {"iface_id", "host_dev_name", "guest_mac", "rx_rate_limiter", "tx_rate_limiter"});
  NetBody n;
  n.iface_id = required_string(o, "iface_id");
  require_same_id(n.iface_id, path_id, "iface_id");
  n.net.tap = required_string(o, "host_dev_name");
  n.net.mac = string_field(o, "guest_mac").value_or("");
  n.net.rx_rate_limiter = parse_rate_limiter(o, "rx_rate_limiter");
  n.net.tx_rate_limiter = parse_rate_limiter(o, "tx_rate_limiter");
  checked([&] { vmm::check_net(n.net); });
  return n;
}

vmm::VsockConfig parse_vsock_body(const std::string& body) {
  auto o = parse_object(body, {"guest_cid", "uds_path", "vsock_id"});
  string_field(o, "vsock_id");  // accepted and ignored, as Firecracker (deprecated there)
  vmm::VsockConfig v;
  auto cid = uint_field(o, "guest_cid", 3, 0xfffffffe);
  if (!cid) throw bad_request("\"guest_cid\" is required");
  v.cid = *cid;
  v.uds_path = required_string(o, "uds_path");
  checked([&] { vmm::check_vsock(v); });
  return v;
}

vmm::BalloonConfig parse_balloon_body(const std::string& body) {
  auto o = parse_object(body, {"amount_mib", "deflate_on_oom", "stats_polling_interval_s"});
  vmm::BalloonConfig b;
  auto mib = uint_field(o, "amount_mib", 0, UINT32_MAX);
  auto oom = bool_field(o, "deflate_on_oom");
  if (!mib || !oom) throw bad_request("\"amount_mib\" and \"deflate_on_oom\" are required");
  b.amount_mib = static_cast<uint32_t>(*mib);
  b.deflate_on_oom = *oom;
  b.stats_polling_interval_s = static_cast<uint32_t>(uint_field(o, "stats_polling_interval_s", 0, 86400).value_or(0));
  checked([&] { vmm::check_balloon(b); });
  return b;
}

nlohmann::json drive_body(const DriveBody& d) {
  nlohmann::json j{{"drive_id", d.drive_id},
                   {"path_on_host", d.disk.path},
                   {"is_root_device", d.is_root_device},
                   {"is_read_only", d.disk.read_only},
                   {"cache_type", d.disk.direct ? "Direct" : "Unsafe"},
                   {"io_engine", d.disk.io_uring ? "Async" : "Sync"}};
  if (!d.disk.serial.empty()) j["serial"] = d.disk.serial;
  if (!d.disk.format.empty()) j["format"] = d.disk.format;
  if (d.disk.rate_limiter.enabled()) j["rate_limiter"] = rate_limiter_body(d.disk.rate_limiter);
  return j;
}

nlohmann::json net_body(const NetBody& n) {
  nlohmann::json j{{"iface_id", n.iface_id}, {"host_dev_name", n.net.tap}};
  if (!n.net.mac.empty()) j["guest_mac"] = n.net.mac;
  if (n.net.rx_rate_limiter.enabled()) j["rx_rate_limiter"] = rate_limiter_body(n.net.rx_rate_limiter);
  if (n.net.tx_rate_limiter.enabled()) j["tx_rate_limiter"] = rate_limiter_body(n.net.tx_rate_limiter);
  return j;
}

nlohmann::json vsock_body(const vmm::VsockConfig& v) { return {{"guest_cid", v.cid}, {"uds_path", v.uds_path}}; }

nlohmann::json balloon_body(const vmm::BalloonConfig& b) {
  return {{"amount_mib", b.amount_mib},
          {"deflate_on_oom", b.deflate_on_oom},
          {"stats_polling_interval_s", b.stats_polling_interval_s}};
}

}  // namespace insula::api
