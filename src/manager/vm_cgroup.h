// The cgroup each VM's VMM process runs in, so a VM cannot take more memory
// or CPU time than it was given: memory.limit = guest RAM + the VMM's own
// allowance, CPU quota = its vCPU count in whole CPUs. Uses the container
// runtime's cgroup code (v1, v2 and hybrid hosts alike).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>

namespace insula::manager {

struct VmCgroupLimits {
  uint64_t guest_memory = 0;  // bytes
  uint32_t cpus = 1;
};

// What the VMM may use beyond guest RAM: its own ~8 MB, threads, and disk
// page cache (which the kernel reclaims at the limit instead of failing).
inline constexpr uint64_t kVmmMemoryAllowance = 128ULL << 20;
inline constexpr uint64_t kCpuPeriodUs = 100000;

// The cgroup path (below each hierarchy's root) of VM `name` in `state_dir`:
// "/insula/NAME.HASH", HASH from the state directory so two state
// directories with a VM of the same name do not share a cgroup.
std::string vm_cgroup_path(const std::string& state_dir, const std::string& name);

// False when this host has no cgroup hierarchy with the memory or cpu
// controller mounted (e.g. a minimal initramfs): VMs then run without limits.
bool vm_cgroups_available();

// Creates the cgroup, sets the limits and moves `pid` (all its threads) in.
// Throws Error when the host's cgroups cannot be written (not root, no
// cgroupfs), saying so.
void place_in_vm_cgroup(const std::string& path, const VmCgroupLimits& limits, pid_t pid);

// Removes the cgroup once its VMM is gone; kills a process still in it.
// Best effort: nothing to do when it does not exist.
void remove_vm_cgroup(const std::string& path);

}  // namespace insula::manager
