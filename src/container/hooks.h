// OCI hooks: run with the container state on stdin, bounded by their timeout.
#pragma once

#include <string>
#include <vector>

#include "container/config.h"

namespace insula::container {

// Runs each hook in order; throws on a non-zero exit, a signal or a timeout
// (the hook is killed) naming the hook kind and path.
void run_hooks(const std::vector<Hook>& hooks, const std::string& kind, const std::string& state_json);

}  // namespace insula::container
