// IoRing: liburing set-up, submission, and reaping (on an EventLoop through
// an eventfd, or on a thread of its own).
#include "base/io_ring.h"

#include <liburing.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "base/log.h"

namespace insula {

namespace {
// The tag of the no-op that tells the reaper thread to stop.
constexpr uint64_t kStopTag = ~0ull;
}  // namespace

// The loop's callback holds this, not the ring: a callback the loop already
// dispatched when the ring goes away finds owner null (the destructor waits
// for one that is running).
struct IoRing::LoopGuard {
  explicit LoopGuard(IoRing* o) : owner(o) {}
  std::mutex mu;
  IoRing* owner;
};

std::unique_ptr<IoRing> IoRing::create(unsigned entries, Callback on_complete, EventLoop* loop) {
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
  std::unique_ptr<IoRing> io(new IoRing(std::move(ring), std::move(on_complete)));
  if (loop) {
    io->eventfd_ = UniqueFd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    r = io->eventfd_ ? io_uring_register_eventfd(io->ring_.get(), io->eventfd_.get()) : -errno;
    if (r == 0) {
      io->loop_ = loop;
      io->guard_ = std::make_shared<LoopGuard>(io.get());
      int efd = io->eventfd_.get();
      loop->add(efd, [guard = io->guard_, efd](uint32_t) {
        uint64_t count;
        [[maybe_unused]] auto n = ::read(efd, &count, sizeof count);  // re-arms it; a miss is harmless
        std::lock_guard lock(guard->mu);
        if (guard->owner) guard->owner->reap_ready();
      });
      return io;
    }
    INSULA_LOG_DEBUG("io_uring: no eventfd for the loop ({}); reaping on a thread", std::strerror(-r));
  }
  io->thread_ = std::thread([raw = io.get()] { raw->reaper(); });
  return io;
}

IoRing::IoRing(std::unique_ptr<io_uring> ring, Callback on_complete)
    : ring_(std::move(ring)), on_complete_(std::move(on_complete)) {}

IoRing::~IoRing() {
  if (loop_) {
    loop_->remove(eventfd_.get());
    std::lock_guard lock(guard_->mu);  // waits for a callback in progress
    guard_->owner = nullptr;
  }
  if (thread_.joinable()) {
    io_uring_sqe* sqe = io_uring_get_sqe(ring_.get());
    if (!sqe) {
      submit();
      sqe = io_uring_get_sqe(ring_.get());
    }
    if (!sqe) {
      INSULA_LOG_WARN("io_uring: no room for the stop request; reaper thread left running");
      thread_.detach();
      (void)ring_.release();  // the detached thread still uses it
      return;
    }
    io_uring_prep_nop(sqe);
    io_uring_sqe_set_data64(sqe, kStopTag);
    submit();
    thread_.join();
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
    // EAGAIN/EBUSY: the kernel is short of room for now; reaping makes some.
    // The entries stay in the ring either way.
    if ((r == -EINTR || r == -EAGAIN || r == -EBUSY) && tries < 1000) {
      if (r != -EINTR) std::this_thread::sleep_for(std::chrono::microseconds(100));
      continue;
    }
    INSULA_LOG_WARN("io_uring submit failed: {}; the next submit retries", std::strerror(-r));
    return;
  }
}

size_t IoRing::reap_ready() {
  std::vector<IoCompletion> batch;
  {
    std::lock_guard lock(cq_mu_);
    unsigned head = 0, seen = 0;
    io_uring_cqe* cqe = nullptr;
    io_uring_for_each_cqe(ring_.get(), head, cqe) {
      seen++;
      if (cqe->user_data == kStopTag)
        stop_seen_ = true;
      else
        batch.push_back(IoCompletion{cqe->user_data, cqe->res});
    }
    io_uring_cq_advance(ring_.get(), seen);
  }
  if (!batch.empty()) on_complete_(batch);
  return batch.size();
}

bool IoRing::ready() const { return io_uring_cq_ready(ring_.get()) > 0; }

size_t IoRing::reap(std::chrono::milliseconds wait) {
  size_t n = reap_ready();
  if (n || wait.count() <= 0) return n;
  if (ring_->features & IORING_FEAT_EXT_ARG) {
    // Only a wake-up: whoever holds cq_mu_ next takes what arrived.
    __kernel_timespec ts{wait.count() / 1000, (wait.count() % 1000) * 1'000'000};
    io_uring_cqe* cqe = nullptr;
    io_uring_wait_cqe_timeout(ring_.get(), &cqe, &ts);
  } else {
    // Older kernels time the wait with a request of their own, which would
    // race the single submitter: sleep instead.
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return reap_ready();
}

void IoRing::reaper() {
  while (!stop_seen_) {
    io_uring_cqe* cqe = nullptr;
    int r = io_uring_wait_cqe(ring_.get(), &cqe);
    if (r < 0 && r != -EINTR && r != -EAGAIN) {
      INSULA_LOG_WARN("io_uring wait failed: {}", std::strerror(-r));
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
      continue;
    }
    reap_ready();
  }
}

}  // namespace insula
