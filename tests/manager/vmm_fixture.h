// Test helpers: a temporary directory, a running `insula vmm` process with
// its API client, and waiting for conditions.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <string>

#include "api/api_client.h"

namespace insula::testing {

class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// `insula vmm --api-sock DIR/api.sock --id ID --log DIR/console.log`, killed
// at the end of the test if still running. With capture_stderr its own log
// (stderr) goes to DIR/vmm.err (err()) instead of the test's output.
class VmmProcess {
 public:
  explicit VmmProcess(const std::string& dir, const std::string& id = "test-vm", bool capture_stderr = false);
  ~VmmProcess();
  api::ApiClient& api() { return api_; }
  pid_t pid() const { return pid_; }
  std::string log() const;  // the console log so far
  std::string err() const;  // its stderr so far (capture_stderr)
  std::string console_socket() const { return api_socket_ + ".console"; }
  // Waits for the process to exit; returns its status or -1 on timeout.
  int wait_exit(std::chrono::milliseconds timeout);

 private:
  std::string api_socket_, log_path_, err_path_;
  pid_t pid_ = -1;
  api::ApiClient api_;
};

bool wait_until(const std::function<bool()>& cond, std::chrono::milliseconds timeout);
std::string read_file(const std::string& path);

}  // namespace insula::testing
