// The container's first process, between clone() and execve(): it talks to
// the creating runtime over a sync socket (see create.cc for the protocol).
#pragma once

#include <string>

#include "base/fd.h"
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
  const std::vector<UniqueFd>* idmapped = nullptr;  // open_idmapped_mounts, per config mount
};

// Never returns: execs the process or _exits after reporting an error.
[[noreturn]] void container_init(const InitArgs& a);

// The sync protocol: one-byte message kinds, errors carry text.
// kSyncSeccomp carries the seccomp notify fd (SCM_RIGHTS); the runtime answers kSyncContinue.
enum SyncMsg : char {
  kSyncGo = 'G',
  kSyncHooks = 'H',
  kSyncContinue = 'C',
  kSyncSeccomp = 'S',
  kSyncReady = 'R',
  kSyncError = 'E'
};
void sync_send(int fd, char kind, const std::string& text = "");
// Returns the kind, or 0 when the peer went away; text receives an error's message.
char sync_recv(int fd, std::string* text);
// The same, for a message that may carry a file descriptor (SCM_RIGHTS).
char sync_recv_fd(int fd, std::string* text, UniqueFd* received);

// Applies the process' user, capabilities, no_new_privs and seccomp (shared
// with exec); seccomp_loaded: the filter is in place already.
void apply_process_security(const Process& p, const Config& c, bool seccomp_loaded = false);
// With SCMP_ACT_NOTIFY rules: loads the filter now and sends the notify fd to
// the runtime over sync_fd (kSyncSeccomp), waiting for its kSyncContinue.
// Returns whether it loaded the filter.
bool load_notify_seccomp(const Process& p, const Config& c, int sync_fd);

}  // namespace insula::container
