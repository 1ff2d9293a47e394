// Resource limits on cgroup v1 controllers (memory, cpu, cpuset, pids, blkio,
// hugetlb, devices) from config.json's linux.resources.
#include <unistd.h>

#include "base/error.h"
#include "container/cgroups.h"

namespace insula::container {
namespace {

using nlohmann::json;

bool has(const json& o, const char* k) { return o.is_object() && o.contains(k) && !o[k].is_null(); }

std::string num(const json& v) {
  if (v.is_number_integer()) return std::to_string(v.get<int64_t>());
  if (v.is_number_unsigned()) return std::to_string(v.get<uint64_t>());
  throw error("config.json: linux.resources: expected a number, got {}", v.dump());
}

void write_if(const std::string& dir, const char* file, const json& o, const char* key) {
  if (dir.empty() || !has(o, key)) return;
  write_cgroup_file(dir, file, num(o[key]));
}

void write_throttle(const std::string& dir, const json& blk, const char* key, const char* file) {
  if (!has(blk, key)) return;
  for (const auto& d : blk[key])
    write_cgroup_file(dir, file, fmt::format("{}:{} {}", num(d["major"]), num(d["minor"]), num(d["rate"])));
}

std::string device_rule(const DeviceRule& r) {
  if (r.type == 'a') return "a";
  auto part = [](int64_t v) { return v >= 0 ? std::to_string(v) : std::string("*"); };
  return fmt::format("{} {}:{} {}", r.type, part(r.major), part(r.minor), r.access);
}

}  // namespace

void Cgroups::apply_v1(const json& r) const {
  if (has(r, "memory")) {
    const json& m = r["memory"];
    std::string d = dir("memory");
    if (d.empty()) throw error("cgroup: memory limits set but the memory controller is not mounted");
    // memsw must stay >= limit: write limit first, and retry it after memsw if it was refused.
    bool limit_done = true;
    try {
      write_if(d, "memory.limit_in_bytes", m, "limit");
    } catch (const Error&) {
      limit_done = false;
    }
    if (has(m, "swap") && ::access((d + "/memory.memsw.limit_in_bytes").c_str(), F_OK) == 0)
      write_if(d, "memory.memsw.limit_in_bytes", m, "swap");
    if (!limit_done) write_if(d, "memory.limit_in_bytes", m, "limit");
    write_if(d, "memory.soft_limit_in_bytes", m, "reservation");
    if (has(m, "swappiness") && m["swappiness"].get<int64_t>() >= 0 && m["swappiness"].get<int64_t>() <= 100)
      write_if(d, "memory.swappiness", m, "swappiness");
    if (has(m, "disableOOMKiller") && m["disableOOMKiller"].get<bool>()) write_cgroup_file(d, "memory.oom_control", "1");
  }
  if (has(r, "cpu")) {
    const json& c = r["cpu"];
    std::string d = dir("cpu");
    if (!d.empty()) {
      if (has(c, "shares") && c["shares"].get<uint64_t>() != 0) write_if(d, "cpu.shares", c, "shares");
      if (has(c, "period") && c["period"].get<uint64_t>() != 0) write_if(d, "cpu.cfs_period_us", c, "period");
      if (has(c, "quota") && c["quota"].get<int64_t>() != 0) write_if(d, "cpu.cfs_quota_us", c, "quota");
      if (has(c, "realtimePeriod") && c["realtimePeriod"].get<uint64_t>()) write_if(d, "cpu.rt_period_us", c, "realtimePeriod");
      if (has(c, "realtimeRuntime") && c["realtimeRuntime"].get<int64_t>()) write_if(d, "cpu.rt_runtime_us", c, "realtimeRuntime");
    }
    std::string cs = dir("cpuset");
    if (!cs.empty()) {
      if (has(c, "cpus") && !c["cpus"].get<std::string>().empty()) write_cgroup_file(cs, "cpuset.cpus", c["cpus"]);
      if (has(c, "mems") && !c["mems"].get<std::string>().empty()) write_cgroup_file(cs, "cpuset.mems", c["mems"]);
    }
  }
  if (has(r, "pids") && has(r["pids"], "limit")) {
    int64_t limit = r["pids"]["limit"].get<int64_t>();
    if (std::string d = dir("pids"); !d.empty()) write_cgroup_file(d, "pids.max", limit > 0 ? std::to_string(limit) : "max");
  }
  if (has(r, "blockIO")) {
    const json& b = r["blockIO"];
    std::string d = dir("blkio");
    if (!d.empty()) {
      // Kernels with BFQ expose only blkio.bfq.weight.
      const char* weight = ::access((d + "/blkio.weight").c_str(), F_OK) == 0 ? "blkio.weight" : "blkio.bfq.weight";
      if (has(b, "weight") && b["weight"].get<int64_t>()) write_if(d, weight, b, "weight");
      if (has(b, "leafWeight") && b["leafWeight"].get<int64_t>()) write_if(d, "blkio.leaf_weight", b, "leafWeight");
      if (has(b, "weightDevice"))
        for (const auto& w : b["weightDevice"])
          if (has(w, "weight")) write_cgroup_file(d, weight, fmt::format("{}:{} {}", num(w["major"]), num(w["minor"]), num(w["weight"])));
      write_throttle(d, b, "throttleReadBpsDevice", "blkio.throttle.read_bps_device");
      write_throttle(d, b, "throttleWriteBpsDevice", "blkio.throttle.write_bps_device");
      write_throttle(d, b, "throttleReadIOPSDevice", "blkio.throttle.read_iops_device");
      write_throttle(d, b, "throttleWriteIOPSDevice", "blkio.throttle.write_iops_device");
    }
  }
  if (has(r, "hugepageLimits")) {
    std::string d = dir("hugetlb");
    for (const auto& h : r["hugepageLimits"]) {
      if (d.empty()) throw error("cgroup: hugepageLimits set but the hugetlb controller is not mounted");
      write_cgroup_file(d, fmt::format("hugetlb.{}.limit_in_bytes", h["pageSize"].get<std::string>()), num(h["limit"]));
    }
  }
  if (has(r, "devices")) {
    std::string d = dir("devices");
    if (!d.empty()) {
      for (const DeviceRule& rule : device_rules(r["devices"]))
        write_cgroup_file(d, rule.allow ? "devices.allow" : "devices.deny", device_rule(rule));
    }
  }
}

}  // namespace insula::container
