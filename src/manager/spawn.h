// Starting a VMM detached from the CLI: double fork and setsid, so it is
// nobody's child, has no terminal, and survives the CLI being killed.
#pragma once

#include <string>
#include <sys/types.h>
#include <vector>

namespace insula::manager {

// Runs argv[0] with argv, stdin and stdout on /dev/null, stderr appended to
// stderr_path, and pass_fd (when >= 0) as its fd kPassedFd. Returns the
// detached process's pid.
constexpr int kPassedFd = 4;
pid_t spawn_detached(const std::vector<std::string>& argv, const std::string& stderr_path, int pass_fd = -1);

}  // namespace insula::manager
