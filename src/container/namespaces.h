// Linux namespaces: clone flags for the ones the config creates, joining the
// ones given by path, and user-namespace id mappings.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "base/fd.h"
#include "container/config.h"

namespace insula::container {

int namespace_flag(const std::string& type);   // CLONE_NEW*
const char* proc_ns_name(const std::string& type);  // "net" for "network", ...

// Flags to pass to clone(): created namespaces except cgroup (unshared by the
// child once it is in its cgroup) and time (unshared by the parent, see create.cc).
unsigned long clone_flags(const Config& c);

// setns() into every namespace given by path, except pid and time (which only
// apply to children: the parent joins those before cloning). User first.
void join_namespace_paths(const Config& c, bool parent_side);

void write_id_mappings(pid_t pid, const Config& c);
// One of /proc/PID/uid_map or gid_map (also for idmapped mounts' namespaces).
void write_id_map(pid_t pid, const char* file, const std::vector<IdMapping>& maps);

// A namespace of another process, to enter with setns().
struct NsFd {
  int type;  // CLONE_NEW*
  UniqueFd fd;
};
// The namespaces of `pid` that differ from ours, user first and mount last.
std::vector<NsFd> open_namespaces(pid_t pid);
// setns() into each, in order. Returns whether one of them (pid, time) only
// applies to children: the caller must fork for the process to be fully inside.
bool enter_namespaces(const std::vector<NsFd>& namespaces);

}  // namespace insula::container
