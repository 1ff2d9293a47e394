// IoRing: liburing set-up, submission, and the completion thread.
#include "devices/virtio/io_ring.h"

#include <liburing.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <vector>

#include "base/log.h"

namespace insula::virtio {

namespace {
// The tag of the no-op that tells the completion thread to stop.
constexpr uint64_t kStopTag = ~0ull;
}  // namespace

std::unique_ptr<IoRing> IoRing::create(unsigned entries, Callback on_complete) {
  auto ring = std::make_unique<io_uring>();
  io_uring_params p{};
  p.flags = IORING_SETUP_CQSIZE;
  p.cq_entries = 2 * entries;
  // One more entry than asked for: the stop request never competes for room.
  int r = io_uring_queue_init_params(entries + 1, ring.get(), &p);
  if (r < 0) {
    INSULA_LOG_DEBUG("io_uring unavailable ({}): using worker threads", std::strerror(-r));
    return nullptr;
  }
  return std::unique_ptr<IoRing>(new IoRing(std::move(ring), std::move(on_complete)));
}

IoRing::IoRing(std::unique_ptr<io_uring> ring, Callback on_complete)
    : ring_(std::move(ring)), on_complete_(std::move(on_complete)), thread_([this] { reap(); }) {}

IoRing::~IoRing() {
  io_uring_sqe* sqe = io_uring_get_sqe(ring_.get());
  if (!sqe) {
    submit();
    sqe = io_uring_get_sqe(ring_.get());
  }
  if (sqe) {
    io_uring_prep_nop(sqe);
    io_uring_sqe_set_data64(sqe, kStopTag);
    submit();
    thread_.join();
  } else {
    INSULA_LOG_WARN("io_uring: no room for the stop request; completion thread left running");
    thread_.detach();
    (void)ring_.release();  // the detached thread still uses it
    return;
  }
  io_uring_queue_exit(ring_.get());
}

bool IoRing::prepare(bool write, int fd, const iovec* iov, unsigned n, uint64_t offset, uint64_t tag) {
  io_uring_sqe* sqe = io_uring_get_sqe(ring_.get());
  if (!sqe) return false;
  if (write)
    io_uring_prep_writev(sqe, fd, iov, n, offset);
  else
    io_uring_prep_readv(sqe, fd, iov, n, offset);
  io_uring_sqe_set_data64(sqe, tag);
  return true;
}

void IoRing::submit() {
  for (int tries = 0;; tries++) {
    int r = io_uring_submit(ring_.get());
    if (r >= 0) return;
    // EAGAIN/EBUSY: the kernel is short of room for now; the completion
    // thread makes some. The entries stay in the ring either way.
    if ((r == -EINTR || r == -EAGAIN || r == -EBUSY) && tries < 1000) {
      if (r != -EINTR) std::this_thread::sleep_for(std::chrono::microseconds(100));
      continue;
    }
    INSULA_LOG_WARN("io_uring submit failed: {}; the next submit retries", std::strerror(-r));
    return;
  }
}

void IoRing::reap() {
  std::vector<IoCompletion> batch;
  for (;;) {
    io_uring_cqe* cqe = nullptr;
    int r = io_uring_wait_cqe(ring_.get(), &cqe);
    if (r < 0) {
      if (r != -EINTR && r != -EAGAIN) {
        INSULA_LOG_WARN("io_uring wait failed: {}", std::strerror(-r));
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
      continue;
    }
    batch.clear();
    bool stop = false;
    unsigned head = 0, seen = 0;
    io_uring_for_each_cqe(ring_.get(), head, cqe) {
      seen++;
      if (cqe->user_data == kStopTag)
        stop = true;
      else
        batch.push_back(IoCompletion{cqe->user_data, cqe->res});
    }
    io_uring_cq_advance(ring_.get(), seen);
    if (!batch.empty()) on_complete_(batch);
    if (stop) return;
  }
}

}  // namespace insula::virtio
