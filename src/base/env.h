// Switches read from the environment (INSULA_TIMING, INSULA_BLK_STATS,
// INSULA_NET_STATS): on when set to anything but "" or "0".
#pragma once

namespace insula {

bool env_flag(const char* name);

}  // namespace insula
