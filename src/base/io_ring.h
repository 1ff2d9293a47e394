// IoRing: an io_uring for asynchronous reads and writes (virtio-blk's direct
// disks, `insula img bench`); its completions are handed, in batches, to a
// callback.
//
// Who reaps: given an EventLoop, the loop's thread does (the ring signals an
// eventfd the loop watches), so the thread that takes a device's kicks and
// submits also completes, with no hand-off between threads (QEMU's I/O thread
// model); without one, a thread of the ring's own waits for completions.
// Any thread may also reap() itself (a device reset waiting for its requests
// while the loop is parked or gone); reaping is serialised inside.
//
// Submission is single-producer: the caller serialises prepare() and
// submit() (virtio-blk does both under its lock). At most `entries` requests
// may be in flight; the completion queue is twice that, so it never overflows.
#pragma once

#include <sys/uio.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <thread>

#include "base/event_loop.h"
#include "base/fd.h"

struct io_uring;

namespace insula {

struct IoCompletion {
  uint64_t tag;  // what prepare() was given
  int32_t result;  // bytes moved, or -errno
};

class IoRing {
 public:
  using Callback = std::function<void(std::span<const IoCompletion>)>;

  // Null when io_uring is not available (old kernel, disabled by sysctl or
  // seccomp); the caller then does its I/O another way.
  static std::unique_ptr<IoRing> create(unsigned entries, Callback on_complete, EventLoop* loop = nullptr);
  // The caller has nothing in flight; with a loop, the loop no longer runs
  // this ring's callback (stopped, or the ring removed from it here first).
  ~IoRing();
  IoRing(const IoRing&) = delete;
  IoRing& operator=(const IoRing&) = delete;

  // Queues a vectored read (write false) or write; iov must stay valid until
  // it completes. False when the submission queue is full (submit() and try
  // again).
  bool prepare(bool write, int fd, const iovec* iov, unsigned n, uint64_t offset, uint64_t tag);
  // Hands every prepared request to the kernel with one system call.
  void submit();
  // Hands what has completed to the callback, waiting up to `wait` for a
  // first completion when there is none yet. Returns how many it handed.
  size_t reap(std::chrono::milliseconds wait = std::chrono::milliseconds(0));
  // Whether completions are waiting to be reaped (a disk that finishes
  // requests inside the submit call has some right after it).
  bool ready() const;

 private:
  IoRing(std::unique_ptr<io_uring> ring, Callback on_complete);
  struct LoopGuard;

  // Takes the ready completions (under cq_mu_) and hands them over.
  size_t reap_ready();
  void reaper();

  std::unique_ptr<io_uring> ring_;
  Callback on_complete_;
  std::mutex cq_mu_;  // one consumer of the completion queue at a time
  std::atomic<bool> stop_seen_{false};
  EventLoop* loop_ = nullptr;
  UniqueFd eventfd_;  // with a loop: signalled by the ring on completions
  std::shared_ptr<LoopGuard> guard_;  // with a loop: what its callback reaches us through
  std::thread thread_;  // without one: the reaper
};

}  // namespace insula
