// Phase timestamps for profiling start-up and snapshot restore: with
// INSULA_TIMING=1 in the environment, timing::mark("what") writes one line
// "insula-timing: <CLOCK_MONOTONIC microseconds> <what>" to stderr; without
// it, a mark costs one load and a branch. The clock is the one Python's
// time.monotonic() reads, so a benchmark can set the marks against the time
// it spawned the process (bench/vmm/snapshot_bench.py --timing).
#pragma once

#include <string_view>

namespace insula::timing {

bool enabled();
void mark(std::string_view what);

}  // namespace insula::timing
