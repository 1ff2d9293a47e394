// IoRing: an io_uring for a device's asynchronous reads and writes, with one
// thread that reaps completions and hands them, in batches, to a callback.
//
// Submission is single-producer: the caller serialises prepare_*() and
// submit() (virtio-blk does both under its lock). At most `entries` requests
// may be in flight; the completion queue is twice that, so it never overflows.
#pragma once

#include <sys/uio.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <thread>

struct io_uring;

namespace insula::virtio {

struct IoCompletion {
  uint64_t tag;  // what prepare_*() was given
  int32_t result;  // bytes moved, or -errno
};

class IoRing {
 public:
  using Callback = std::function<void(std::span<const IoCompletion>)>;

  // Null when io_uring is not available (old kernel, disabled by sysctl or
  // seccomp); the caller then does its I/O another way.
  static std::unique_ptr<IoRing> create(unsigned entries, Callback on_complete);
  ~IoRing();  // stops the completion thread; the caller has nothing in flight
  IoRing(const IoRing&) = delete;
  IoRing& operator=(const IoRing&) = delete;

  // Queues a vectored read (write false) or write; iov must stay valid until
  // it completes. False when the submission queue is full (submit() and try
  // again).
  bool prepare(bool write, int fd, const iovec* iov, unsigned n, uint64_t offset, uint64_t tag);
  // Hands every prepared request to the kernel with one system call.
  void submit();

 private:
  IoRing(std::unique_ptr<io_uring> ring, Callback on_complete);
  void reap();

  std::unique_ptr<io_uring> ring_;
  Callback on_complete_;
  std::thread thread_;
};

}  // namespace insula::virtio
