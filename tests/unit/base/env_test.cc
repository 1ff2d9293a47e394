// env_flag: INSULA_TIMING, INSULA_BLK_STATS and INSULA_NET_STATS are on
// when set to anything but "" or "0".
#include "base/env.h"

#include <gtest/gtest.h>
#include <stdlib.h>

namespace insula {
namespace {

TEST(EnvFlag, OnForAnyValueButEmptyOrZero) {
  const char* name = "INSULA_ENV_FLAG_TEST";
  ASSERT_EQ(unsetenv(name), 0);
  EXPECT_FALSE(env_flag(name));
  for (const char* off : {"", "0"}) {
    ASSERT_EQ(setenv(name, off, 1), 0);
    EXPECT_FALSE(env_flag(name)) << "'" << off << "'";
  }
  for (const char* on : {"1", "yes", "00", "10"}) {
    ASSERT_EQ(setenv(name, on, 1), 0);
    EXPECT_TRUE(env_flag(name)) << "'" << on << "'";
  }
  unsetenv(name);
}

}  // namespace
}  // namespace insula
