// Deferred KVM teardown at process exit.
#include "vmm/fast_exit.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>

namespace insula::vmm {

namespace {

int g_parent_alive[2];  // pipe: EOF once the parent has exited
alignas(16) char g_reaper_stack[64 * 1024];

int reaper(void*) {
  // Let go of the terminal and pipes at once so nobody waits on us, keep the
  // KVM fds (and the shared address space) until the parent is gone, then
  // drop them here. Only raw system calls: we share the parent's memory.
  int null = ::open("/dev/null", O_RDWR);
  for (int fd = 0; fd <= 2; ++fd) ::dup2(null, fd);
  ::close(g_parent_alive[1]);
  ::setsid();
  char c;
  while (::read(g_parent_alive[0], &c, 1) < 0) {
  }
  ::_exit(0);
}

}  // namespace

void exit_leaving_teardown_to_child(int status) {
  std::fflush(stdout);
  std::fflush(stderr);
  if (::pipe2(g_parent_alive, O_CLOEXEC) == 0) {
    // CLONE_VM: the child shares our address space, so our exit does not
    // unmap guest memory either (KVM's MMU-notifier release is part of the
    // slow path); without CLONE_FILES it holds its own references to the
    // KVM file descriptors.
    if (::clone(reaper, g_reaper_stack + sizeof g_reaper_stack, CLONE_VM | SIGCHLD, nullptr) > 0)
      ::close(g_parent_alive[0]);
  }
  ::_exit(status);
}

}  // namespace insula::vmm
