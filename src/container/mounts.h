// Building the container's filesystem view inside its new mount namespace:
// rootfs bind, config mounts, devices, /dev symlinks, masked and read-only
// paths, then pivot_root (or MS_MOVE+chroot with --no-pivot).
#pragma once

#include <string>
#include <vector>

#include "base/fd.h"
#include "container/cgroups.h"
#include "container/config.h"

namespace insula::container {

struct RootfsOptions {
  std::string bundle;
  bool in_user_ns = false;
  bool cgroup_ns = false;
  Cgroups cgroups;
  const std::vector<UniqueFd>* idmapped = nullptr;  // per config mount: its idmapped tree, if any
};

// Everything up to (not including) the switch of root. Runs in the child.
void prepare_rootfs(const Config& c, const RootfsOptions& o);
// Sysctls, masked and read-only paths: after prepare_rootfs, still before the switch.
void finalize_rootfs_paths(const Config& c);
// pivot_root (or move+chroot), then the read-only root remount.
void switch_root(const Config& c, bool no_pivot);

// Parses mount options into flags, propagation flags and the data string.
struct MountFlags {
  unsigned long flags = 0, clear = 0, propagation = 0;
  bool bind = false, recursive = false;
  std::string data;
};
MountFlags parse_mount_options(const std::vector<std::string>& options);

// idmap_mounts.cc. Runtime side, before the clone: for each idmapped config
// mount (by index) a detached, idmapped clone of its source tree.
bool is_idmapped(const Mount& m);
std::vector<UniqueFd> open_idmapped_mounts(const Config& c, const std::string& bundle);
// Init side: moves such a tree onto the mount point open as target (O_PATH).
void attach_idmapped_mount(int tree, int target, const std::string& dst);

}  // namespace insula::container
