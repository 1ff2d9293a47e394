// A VM's cgroup: create, limit, enter, remove (see vm_cgroup.h).
#include "manager/vm_cgroup.h"

#include <filesystem>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "base/error.h"
#include "container/cgroups.h"

namespace insula::manager {
namespace {

// FNV-1a: stable across builds (std::hash is not), since the path must be
// found again by the next CLI to remove it.
uint64_t fnv1a(const std::string& s) {
  uint64_t h = 14695981039346656037ULL;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return h;
}

container::Cgroups existing_dirs(const std::string& path) {
  auto layout = container::CgroupLayout::detect();
  std::map<std::string, std::string> dirs;
  for (const auto& [key, mount] : layout.v1)
    if (std::filesystem::is_directory(mount + path)) dirs[key] = mount + path;
  if (!layout.v2.empty() && std::filesystem::is_directory(layout.v2 + path)) dirs["unified"] = layout.v2 + path;
  return container::Cgroups(std::move(dirs));
}

}  // namespace

std::string vm_cgroup_path(const std::string& state_dir, const std::string& name) {
  std::error_code ec;
  auto canonical = std::filesystem::weakly_canonical(state_dir, ec);
  return fmt::format("/insula/{}.{:08x}", name, uint32_t(fnv1a(ec ? state_dir : canonical.string())));
}

bool vm_cgroups_available() {
  auto layout = container::CgroupLayout::detect();
  return layout.v1.count("memory") || layout.v1.count("cpu") || !layout.v2.empty();
}

void place_in_vm_cgroup(const std::string& path, const VmCgroupLimits& limits, pid_t pid) {
  try {
    auto cg = container::Cgroups::create(container::CgroupLayout::detect(), path);
    nlohmann::json resources{
        {"memory", {{"limit", limits.guest_memory + kVmmMemoryAllowance}}},
        {"cpu", {{"quota", int64_t(limits.cpus) * int64_t(kCpuPeriodUs)}, {"period", kCpuPeriodUs}}}};
    cg.apply(resources);
    cg.add_process(pid);
  } catch (const Error& e) {
    throw error("cannot put the VMM in its cgroup {} ({}): run as root on a host with cgroupfs mounted", path,
                e.what());
  }
}

void remove_vm_cgroup(const std::string& path) {
  try {
    existing_dirs(path).destroy();
  } catch (...) {
    // Best effort: a leftover empty cgroup is harmless and reused next start.
  }
}

}  // namespace insula::manager
