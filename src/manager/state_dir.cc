// resolve_state_dir: see state_dir.h.
#include "manager/state_dir.h"

#include <cstdlib>

namespace insula::manager {

std::string resolve_state_dir(const std::string& flag) {
  if (!flag.empty()) return flag;
  if (const char* env = std::getenv("INSULA_STATE_DIR"); env && *env) return env;
  return "/var/lib/insula";
}

}  // namespace insula::manager
