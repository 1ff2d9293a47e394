// timing::mark: see timing.h.
#include "base/timing.h"

#include <time.h>
#include <unistd.h>

#include <fmt/format.h>

#include "base/env.h"

namespace insula::timing {

bool enabled() {
  // Read once: the environment does not change under a running VMM.
  static const bool on = env_flag("INSULA_TIMING");
  return on;
}

void mark(std::string_view what) {
  if (!enabled()) return;
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  // One write(2) per line, unbuffered: marks from several threads stay whole
  // and none is lost if the process is killed.
  auto line = fmt::format("insula-timing: {} {}\n", uint64_t(ts.tv_sec) * 1000000 + uint64_t(ts.tv_nsec) / 1000, what);
  [[maybe_unused]] ssize_t n = ::write(STDERR_FILENO, line.data(), line.size());
}

}  // namespace insula::timing
