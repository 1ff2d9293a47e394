// timing::mark: with INSULA_TIMING set, one whole line per mark on stderr,
// stamped with CLOCK_MONOTONIC microseconds (what the benchmarks compare
// against their own clock).
#include "base/timing.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>

namespace insula {
namespace {

uint64_t now_us() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1000000 + uint64_t(ts.tv_nsec) / 1000;
}

TEST(Timing, MarksAreMonotonicLinesOnStderr) {
  // Read once per process: set before the first mark.
  ASSERT_EQ(setenv("INSULA_TIMING", "1", 1), 0);
  char path[] = "/tmp/insula-timing-XXXXXX";
  int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  int saved = dup(STDERR_FILENO);
  dup2(fd, STDERR_FILENO);
  uint64_t before = now_us();
  timing::mark("first phase");
  timing::mark("second phase");
  uint64_t after = now_us();
  dup2(saved, STDERR_FILENO);
  close(saved);
  close(fd);
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  unlink(path);

  EXPECT_TRUE(timing::enabled());
  std::string out = ss.str();
  // (sscanf, not std::regex: g++ 12 warns inside <regex> under the sanitizers.)
  unsigned long long t1 = 0, t2 = 0;
  int used = 0;
  ASSERT_EQ(sscanf(out.c_str(), "insula-timing: %llu first phase\ninsula-timing: %llu second phase\n%n", &t1, &t2, &used), 2)
      << out;
  EXPECT_EQ(static_cast<size_t>(used), out.size()) << out;
  EXPECT_LE(before, t1);
  EXPECT_LE(t1, t2);
  EXPECT_LE(t2, after);
}

}  // namespace
}  // namespace insula
