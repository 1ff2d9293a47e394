// Where insula keeps its host state: --state-dir, else $INSULA_STATE_DIR,
// else /var/lib/insula.
#pragma once

#include <string>

namespace insula::manager {

std::string resolve_state_dir(const std::string& flag);

}  // namespace insula::manager
