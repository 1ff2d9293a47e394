// Building the container's filesystem view inside its new mount namespace:
// rootfs bind, config mounts, devices, /dev symlinks, masked and read-only
// paths, then pivot_root (or MS_MOVE+chroot with --no-pivot).
#pragma once

#include <string>

#include "container/cgroups.h"
#include "container/config.h"

namespace insula::container {

struct RootfsOptions {
  std::string bundle;
  bool in_user_ns = false;
  bool cgroup_ns = false;
  Cgroups cgroups;
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

}  // namespace insula::container
