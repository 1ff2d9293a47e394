// Resource limits on a pure cgroup2 host (memory.max, cpu.max, pids.max, io.*,
// cpuset.*, hugetlb.*, and `unified` keys written as given).
#include <unistd.h>

#include <cmath>
#include <optional>

#include "base/error.h"
#include "container/cgroups.h"

namespace insula::container {
namespace {

using nlohmann::json;

bool has(const json& o, const char* k) { return o.is_object() && o.contains(k) && !o[k].is_null(); }

std::string limit_str(int64_t v) { return v < 0 ? std::string("max") : std::to_string(v); }

// A controller's files exist only where it is enabled: say which one is missing
// rather than "no such file" (on hybrid hosts a controller bound to a v1
// hierarchy is never available on cgroup2).
void write_file(const std::string& d, const std::string& file, const std::string& value) {
  if (file.find('.') != std::string::npos && ::access((d + "/" + file).c_str(), F_OK) != 0 && errno == ENOENT) {
    std::string controllers = read_small_file(d + "/../cgroup.subtree_control");
    while (!controllers.empty() && controllers.back() == '\n') controllers.pop_back();
    throw error("cgroup2: cannot set {}: the {} controller is not enabled for {} (enabled: '{}'); it may be bound to a cgroup v1 hierarchy",
                file, file.substr(0, file.find('.')), d, controllers);
  }
  write_cgroup_file(d, file, value);
}

// memory.swap.max from the spec's swap, which has v1 semantics (memory+swap),
// converted as runc does: 0 leaves it unset (engines send 0 for "not given"),
// -1 is max (also with an unlimited memory and no swap), with an unlimited
// memory swap is taken as is, otherwise swap - limit, which needs a limit no
// larger than swap.
std::optional<std::string> swap_max(const json& m) {
  int64_t swap = has(m, "swap") ? m["swap"].get<int64_t>() : 0;
  int64_t limit = has(m, "limit") ? m["limit"].get<int64_t>() : 0;
  if (swap == -1 || (swap == 0 && limit == -1)) return "max";
  if (swap == 0) return std::nullopt;
  if (limit == -1) return std::to_string(swap);
  if (limit <= 0)
    throw error("linux.resources.memory: swap {} needs a memory limit (swap is memory+swap; cgroup2 limits swap alone); set memory.limit too", swap);
  if (swap < limit)
    throw error("linux.resources.memory: swap {} is below limit {} (swap is memory+swap, so it must be >= limit)", swap, limit);
  return std::to_string(swap - limit);
}

// cpu.shares (v1: 2..262144, default 1024) to cpu.weight (1..10000, default
// 100) as runc and crun do since 2025 (opencontainers/cgroups#20, crun#1767):
// a quadratic in log2(shares) through the minimum, the default and the
// maximum, so the default 1024 becomes 100 (the older linear formula gave 39,
// starving containers against everything else at the default weight).
uint64_t cpu_weight(uint64_t shares) {
  if (shares <= 2) return 1;
  if (shares >= 262144) return 10000;
  double l = std::log2(static_cast<double>(shares));
  return static_cast<uint64_t>(std::ceil(std::pow(10.0, (l * l + 125 * l) / 612.0 - 7.0 / 34.0)));
}

}  // namespace

void Cgroups::apply_v2(const std::string& d, const json& r) const {
  if (d.empty()) return;
  if (has(r, "memory")) {
    const json& m = r["memory"];
    std::optional<std::string> swap = swap_max(m);  // checked before anything is written
    if (has(m, "limit")) write_file(d, "memory.max", limit_str(m["limit"].get<int64_t>()));
    if (has(m, "reservation")) write_file(d, "memory.low", limit_str(m["reservation"].get<int64_t>()));
    if (swap) write_file(d, "memory.swap.max", *swap);
  }
  if (has(r, "cpu")) {
    const json& c = r["cpu"];
    if (has(c, "shares") && c["shares"].get<uint64_t>())
      write_file(d, "cpu.weight", std::to_string(cpu_weight(c["shares"].get<uint64_t>())));
    if (has(c, "quota") || has(c, "period")) {
      int64_t q = has(c, "quota") ? c["quota"].get<int64_t>() : -1;
      uint64_t p = has(c, "period") && c["period"].get<uint64_t>() ? c["period"].get<uint64_t>() : 100000;
      write_file(d, "cpu.max", fmt::format("{} {}", q > 0 ? std::to_string(q) : "max", p));
    }
    if (has(c, "cpus") && !c["cpus"].get<std::string>().empty()) write_file(d, "cpuset.cpus", c["cpus"]);
    if (has(c, "mems") && !c["mems"].get<std::string>().empty()) write_file(d, "cpuset.mems", c["mems"]);
  }
  if (has(r, "pids") && has(r["pids"], "limit")) {
    int64_t l = r["pids"]["limit"].get<int64_t>();
    write_file(d, "pids.max", l > 0 ? std::to_string(l) : "max");
  }
  if (has(r, "blockIO")) {
    const json& b = r["blockIO"];
    if (has(b, "weight") && b["weight"].get<int64_t>()) {
      // blkio weight 10..1000 -> io weight 1..10000
      int64_t w = b["weight"].get<int64_t>();
      write_file(d, "io.weight", std::to_string(1 + (w - 10) * 9999 / 990));
    }
    const std::pair<const char*, const char*> kThrottle[] = {{"throttleReadBpsDevice", "rbps"},
                                                             {"throttleWriteBpsDevice", "wbps"},
                                                             {"throttleReadIOPSDevice", "riops"},
                                                             {"throttleWriteIOPSDevice", "wiops"}};
    for (const auto& [key, name] : kThrottle)
      if (has(b, key))
        for (const auto& t : b[key])
          write_file(d, "io.max", fmt::format("{}:{} {}={}", t["major"].get<int64_t>(), t["minor"].get<int64_t>(), name,
                                                     t["rate"].get<uint64_t>()));
  }
  if (has(r, "hugepageLimits"))
    for (const auto& h : r["hugepageLimits"])
      write_file(d, fmt::format("hugetlb.{}.max", h["pageSize"].get<std::string>()), std::to_string(h["limit"].get<uint64_t>()));
  if (has(r, "unified"))
    for (const auto& [k, v] : r["unified"].items()) {
      if (k.find('/') != std::string::npos) throw error("config.json: linux.resources.unified key '{}' must be a file name", k);
      write_file(d, k, v.get<std::string>());
    }
  if (has(r, "devices")) attach_device_filter(d, device_rules(r["devices"]));
}

}  // namespace insula::container
