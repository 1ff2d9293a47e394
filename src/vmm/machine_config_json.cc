// MachineConfig as JSON (nlohmann): every field, by name.
#include "vmm/machine_config_json.h"

#include <nlohmann/json.hpp>

#include "base/error.h"

namespace insula::vmm {

namespace {
// Rate limiters: [bandwidth size, burst, refill ms, ops size, burst, refill ms],
// written only when one is set (older state files have none).
nlohmann::json limiter_json(const virtio::RateLimiterConfig& r) {
  return {r.bandwidth.size, r.bandwidth.one_time_burst, r.bandwidth.refill_time_ms,
          r.ops.size,       r.ops.one_time_burst,       r.ops.refill_time_ms};
}
virtio::RateLimiterConfig limiter_from(const nlohmann::json& o, const char* key) {
  if (!o.contains(key)) return {};
  auto v = o.at(key).get<std::vector<uint64_t>>();
  if (v.size() != 6) throw error("the saved machine config is not valid: {} has {} numbers, not 6", key, v.size());
  return {{v[0], v[1], v[2]}, {v[3], v[4], v[5]}};
}
}  // namespace

std::string config_to_json(const MachineConfig& c) {
  nlohmann::json j;
  j["kernel"] = c.kernel;
  j["initrd"] = c.initrd;
  j["cmdline"] = c.cmdline;
  j["cpus"] = c.cpus;
  j["memory"] = c.memory;
  j["debug"] = c.debug;
  j["rng"] = c.rng;
  j["virtio_console"] = c.virtio_console;
  j["disks"] = nlohmann::json::array();
  for (const auto& d : c.disks) {
    j["disks"].push_back({{"path", d.path}, {"read_only", d.read_only}, {"direct", d.direct}, {"serial", d.serial},
                          {"format", d.format}, {"io_uring", d.io_uring}});
    if (d.rate_limiter.enabled()) j["disks"].back()["rate_limiter"] = limiter_json(d.rate_limiter);
  }
  j["nets"] = nlohmann::json::array();
  for (const auto& n : c.nets) {
    j["nets"].push_back({{"tap", n.tap}, {"mac", n.mac}});
    if (n.rx_rate_limiter.enabled()) j["nets"].back()["rx_rate_limiter"] = limiter_json(n.rx_rate_limiter);
    if (n.tx_rate_limiter.enabled()) j["nets"].back()["tx_rate_limiter"] = limiter_json(n.tx_rate_limiter);
  }
  if (c.vsock) j["vsock"] = {{"cid", c.vsock->cid}, {"uds_path", c.vsock->uds_path}};
  // The balloon's options decide its features and queues: a restore needs them.
  if (c.balloon)
    j["balloon"] = {{"amount_mib", c.balloon->amount_mib},
                    {"deflate_on_oom", c.balloon->deflate_on_oom},
                    {"stats_polling_interval_s", c.balloon->stats_polling_interval_s}};
  return j.dump();
}

MachineConfig config_from_json(const std::string& text) {
  try {
    auto j = nlohmann::json::parse(text);
    MachineConfig c;
    c.kernel = j.at("kernel").get<std::string>();
    c.initrd = j.at("initrd").get<std::string>();
    c.cmdline = j.at("cmdline").get<std::string>();
    c.cpus = j.at("cpus").get<uint32_t>();
    c.memory = j.at("memory").get<uint64_t>();
    c.debug = j.at("debug").get<bool>();
    c.rng = j.at("rng").get<bool>();
    c.virtio_console = j.at("virtio_console").get<bool>();
    for (const auto& d : j.at("disks"))
      c.disks.push_back({d.at("path").get<std::string>(), d.at("read_only").get<bool>(), d.at("direct").get<bool>(),
                         d.at("serial").get<std::string>(), d.at("format").get<std::string>(),
                         limiter_from(d, "rate_limiter"), d.value("io_uring", true)});
    for (const auto& n : j.at("nets"))
      c.nets.push_back({n.at("tap").get<std::string>(), n.at("mac").get<std::string>(), limiter_from(n, "rx_rate_limiter"),
                        limiter_from(n, "tx_rate_limiter")});
    if (j.contains("vsock"))
      c.vsock = VsockConfig{j["vsock"].at("cid").get<uint64_t>(), j["vsock"].at("uds_path").get<std::string>()};
    if (j.contains("balloon")) {
      const auto& b = j["balloon"];
      c.balloon = BalloonConfig{b.at("amount_mib").get<uint32_t>(), b.at("deflate_on_oom").get<bool>(),
                                b.at("stats_polling_interval_s").get<uint32_t>()};
    }
    return c;
  } catch (const nlohmann::json::exception& e) {
    throw error("the saved machine config is not valid: {}", e.what());
  }
}

}  // namespace insula::vmm
