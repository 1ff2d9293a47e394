// A gtest fixture for tests that drive `insula vm` on their own state
// directory (state_, set by the derived fixture's SetUp).
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "run_cli.h"

namespace insula::testing {

class VmCliTest : public ::testing::Test {
 protected:
  Result vm(std::vector<std::string> args) { return run_vm_cli(state_, args); }
  // Succeeds (a fatal failure otherwise, with what it printed).
  void ok(std::vector<std::string> args) {
    auto r = vm(std::move(args));
    ASSERT_EQ(r.status, 0) << r.err;
  }
  // Refused with a message that contains `what`.
  void refused(std::vector<std::string> args, const std::string& what) {
    auto r = vm(std::move(args));
    EXPECT_NE(r.status, 0) << r.out;
    EXPECT_NE(r.err.find(what), std::string::npos) << r.err;
  }
  std::string state_;
};

}  // namespace insula::testing
