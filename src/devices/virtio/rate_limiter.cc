// Token buckets and the timerfd that wakes a throttled device.
#include "devices/virtio/rate_limiter.h"

#include <sys/timerfd.h>

#include <algorithm>

#include "base/error.h"
#include "base/event_loop.h"

namespace insula::virtio {

namespace {
using u128 = unsigned __int128;
constexpr uint64_t kNsPerMs = 1'000'000;
}  // namespace

TokenBucket::TokenBucket(const TokenBucketConfig& c, Clock::time_point now)
    : size_(c.size),
      refill_ns_(c.refill_time_ms * kNsPerMs),
      burst_(c.one_time_burst),
      budget_(static_cast<int64_t>(std::min<uint64_t>(c.size, INT64_MAX))),
      last_(now) {}

void TokenBucket::refill(Clock::time_point now) {
  if (now <= last_) return;
  uint64_t elapsed = static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(now - last_).count());
  last_ = now;
  int64_t cap = static_cast<int64_t>(std::min<uint64_t>(size_, INT64_MAX));
  if (budget_ >= cap) {
    carry_ = 0;
    return;
  }
  // tokens = elapsed * size / refill_ns, keeping the remainder for next time.
  u128 scaled = u128(elapsed) * size_ + carry_;
  u128 tokens = scaled / refill_ns_;
  carry_ = static_cast<uint64_t>(scaled % refill_ns_);
  // Budget may be negative (debt, down to -INT64_MAX): room can exceed size
  // and even INT64_MAX, so it is computed in 128 bits.
  u128 room = u128(static_cast<__int128>(cap) - budget_);
  if (tokens >= room) {
    budget_ = cap;
    carry_ = 0;
  } else {
    budget_ += static_cast<int64_t>(tokens);
  }
}

bool TokenBucket::can_take(uint64_t n, Clock::time_point now) {
  refill(now);
  if (n <= burst_) return true;
  uint64_t need = std::min(n - burst_, size_);
  return budget_ >= 0 && static_cast<uint64_t>(budget_) >= need;
}

void TokenBucket::take(uint64_t n) {
  uint64_t from_burst = std::min(n, burst_);
  burst_ -= from_burst;
  // What can_take let through beyond the budget becomes debt.
  __int128 b = static_cast<__int128>(budget_) - (n - from_burst);
  budget_ = static_cast<int64_t>(std::max<__int128>(b, -INT64_MAX));
}

std::chrono::nanoseconds TokenBucket::wait_for(uint64_t n, Clock::time_point now) {
  if (can_take(n, now)) return std::chrono::nanoseconds(0);
  uint64_t need = std::min(n - burst_, size_);
  u128 missing = u128(static_cast<__int128>(need) - budget_);
  u128 ns = (missing * refill_ns_ - carry_ + size_ - 1) / size_;
  return std::chrono::nanoseconds(static_cast<int64_t>(std::min<u128>(ns, u128(INT64_MAX))));
}

RateLimiter::RateLimiter(const RateLimiterConfig& config, EventLoop* loop, std::function<void()> on_refill)
    : loop_(loop), on_refill_(std::move(on_refill)) {
  if (loop_) {
    timer_.reset(::timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK));
    if (!timer_) throw errno_error("creating a rate limiter timer");
    loop_->add(timer_.get(), [this](uint32_t) { timer_fired(); });
  }
  set_config(config);
}

RateLimiter::~RateLimiter() {
  if (loop_) loop_->remove(timer_.get());
}

bool RateLimiter::try_take(uint64_t bytes, Clock::time_point now) {
  std::lock_guard lock(mu_);
  bool ok = (!bandwidth_ || bandwidth_->can_take(bytes, now)) && (!ops_ || ops_->can_take(1, now));
  if (ok) {
    if (bandwidth_) bandwidth_->take(bytes);
    if (ops_) ops_->take(1);
    return true;
  }
  throttled_++;
  auto wait = std::max(bandwidth_ ? bandwidth_->wait_for(bytes, now) : std::chrono::nanoseconds(0),
                       ops_ ? ops_->wait_for(1, now) : std::chrono::nanoseconds(0));
  arm(std::max(wait, std::chrono::nanoseconds(1000)));
  return false;
}

void RateLimiter::arm(std::chrono::nanoseconds wait) {
  if (!timer_) return;
  itimerspec its{};
  its.it_value.tv_sec = static_cast<time_t>(wait.count() / 1'000'000'000);
  its.it_value.tv_nsec = static_cast<long>(wait.count() % 1'000'000'000);
  ::timerfd_settime(timer_.get(), 0, &its, nullptr);
}

void RateLimiter::timer_fired() {
  uint64_t expirations;
  [[maybe_unused]] auto n = ::read(timer_.get(), &expirations, sizeof expirations);
  if (on_refill_) on_refill_();
}

void RateLimiter::set_config(const RateLimiterConfig& config) {
  std::lock_guard lock(mu_);
  auto now = Clock::now();
  config_ = config;
  bandwidth_.reset();
  ops_.reset();
  if (config.bandwidth.enabled()) bandwidth_.emplace(config.bandwidth, now);
  if (config.ops.enabled()) ops_.emplace(config.ops, now);
}

void RateLimiter::update(const RateLimiterConfig& config) {
  set_config(config);
  // A device waiting for tokens retries at once, through the loop so that
  // on_refill runs on the device thread as always.
  arm(std::chrono::nanoseconds(1));
}

RateLimiterConfig RateLimiter::config() const {
  std::lock_guard lock(mu_);
  return config_;
}

uint64_t RateLimiter::throttled() const {
  std::lock_guard lock(mu_);
  return throttled_;
}

}  // namespace insula::virtio
