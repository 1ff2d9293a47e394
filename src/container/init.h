// The container's first process, between clone() and execve(): it talks to
// the creating runtime over a sync socket (see create.cc for the protocol).
#pragma once

#include <string>

#include "container/cgroups.h"
#include "container/config.h"

namespace insula::container {

struct InitArgs {
  const Config* config;
  std::string bundle;
  int sync_fd = -1;     // SOCK_SEQPACKET to the runtime
  int fifo_fd = -1;     // exec.fifo, read until start writes to it
  int console_fd = -1;  // console socket (terminal)
  int preserve_fds = 0;
  bool no_pivot = false;
  Cgroups cgroups;
  bool in_cgroup2 = false;  // cloned into the cgroup2 directory already
};

// Never returns: execs the process or _exits after reporting an error.
[[noreturn]] void container_init(const InitArgs& a);

// The sync protocol: one-byte message kinds, errors carry text.
enum SyncMsg : char { kSyncGo = 'G', kSyncHooks = 'H', kSyncContinue = 'C', kSyncReady = 'R', kSyncError = 'E' };
void sync_send(int fd, char kind, const std::string& text = "");
// Returns the kind, or 0 when the peer went away; text receives an error's message.
char sync_recv(int fd, std::string* text);

// Applies the process' user, capabilities, no_new_privs and seccomp (shared with exec).
void apply_process_security(const Process& p, const Config& c);

}  // namespace insula::container
