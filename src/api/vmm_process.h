// The body of `insula vmm`: one VM's VMM process serving the API on a unix
// socket until the VM ends or PUT /shutdown (or SIGTERM/SIGINT/SIGHUP).
#pragma once

#include <string>

namespace insula::api {

struct VmmProcessOptions {
  std::string api_socket;
  std::string console_socket;  // empty: <api_socket>.console
  std::string id = "anonymous-instance";
  std::string log_path;        // console log (appended); empty: none
  // An inherited pipe's write end: one byte is written and the fd closed
  // once the API socket listens, so a launcher waits for exactly that
  // instead of polling the socket (-1: none).
  int ready_fd = -1;
  // RAM the VM will likely have, in bytes (0: unknown): its guest RAM is then
  // mapped and registered with KVM before the first request (see
  // vmm/prepared_vm.h). A VM of another size still works, only slower to build.
  uint64_t memory_hint = 0;
};

// Returns the process's exit status: 0 after a shutdown or power-off,
// otherwise what `insula run` would return for how the guest ended.
int run_vmm_process(const VmmProcessOptions& opts);

}  // namespace insula::api
