// OCI hooks: run with the container state on stdin, bounded by their timeout.
#pragma once

#include <string>
#include <vector>

#include "container/config.h"

namespace insula::container {

// Runs each hook in order; throws on a non-zero exit, a signal or a timeout
// (the hook is killed) naming the hook kind and path.
// With ns_pid > 0 the hook binary is opened here (its path resolves in the
// runtime's namespaces) and then executed inside the mount namespace of
// process ns_pid (createContainer hooks: the container's, before pivot_root).
void run_hooks(const std::vector<Hook>& hooks, const std::string& kind, const std::string& state_json, int ns_pid = 0);

}  // namespace insula::container
