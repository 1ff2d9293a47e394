// RateLimiter: Firecracker's I/O rate limiter for virtio-blk and virtio-net —
// two token buckets (bytes and operations). A device asks it before it serves
// a request; when a bucket is empty the device stops taking requests from
// its queue and the limiter calls it back (a timerfd on the device thread's
// event loop) once the tokens are there. Nothing blocks: not a vCPU, not the
// event loop.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>

#include "base/fd.h"

namespace insula {
class EventLoop;
}

namespace insula::virtio {

// One bucket as the API gives it (Firecracker's TokenBucket): `size` tokens,
// refilled from empty in `refill_time_ms`; `one_time_burst` extra tokens
// spent first and never refilled. size 0 or refill_time_ms 0: no limit.
struct TokenBucketConfig {
  uint64_t size = 0;
  uint64_t one_time_burst = 0;
  uint64_t refill_time_ms = 0;
  bool enabled() const { return size > 0 && refill_time_ms > 0; }
  bool operator==(const TokenBucketConfig&) const = default;
};

struct RateLimiterConfig {
  TokenBucketConfig bandwidth{};  // bytes
  TokenBucketConfig ops{};        // requests
  bool enabled() const { return bandwidth.enabled() || ops.enabled(); }
  bool operator==(const RateLimiterConfig&) const = default;
};

// Tokens over time; the clock is passed in so tests need no sleeping.
class TokenBucket {
 public:
  using Clock = std::chrono::steady_clock;
  TokenBucket(const TokenBucketConfig& c, Clock::time_point now);

  // Whether n tokens can be spent now. A request larger than the bucket
  // waits for a full bucket, then takes it all and leaves the rest as debt
  // that later refills pay off.
  bool can_take(uint64_t n, Clock::time_point now);
  void take(uint64_t n);  // after can_take said yes
  // How long until can_take(n) is true (zero if it already is).
  std::chrono::nanoseconds wait_for(uint64_t n, Clock::time_point now);
  // Tokens left in the refilling budget (negative: debt).
  int64_t budget() const { return budget_; }
  uint64_t one_time_burst() const { return burst_; }

 private:
  void refill(Clock::time_point now);
  uint64_t size_;
  uint64_t refill_ns_;
  uint64_t burst_;
  int64_t budget_;
  Clock::time_point last_;
  uint64_t carry_ = 0;  // refill remainder (tokens * refill_ns), so no fraction is lost
};

class RateLimiter {
 public:
  using Clock = std::chrono::steady_clock;
  // on_refill runs on loop's thread when a request refused by try_take can
  // now go through. loop may be null (tests): then the caller polls.
  RateLimiter(const RateLimiterConfig& config, EventLoop* loop, std::function<void()> on_refill);
  ~RateLimiter();
  RateLimiter(const RateLimiter&) = delete;
  RateLimiter& operator=(const RateLimiter&) = delete;

  // Spends one operation and `bytes` from the buckets, or neither (false)
  // and arms the timer for when both would have enough.
  bool try_take(uint64_t bytes, Clock::time_point now = Clock::now());
  // New limits (PATCH): the buckets start full again, as in Firecracker;
  // calls on_refill so that a device waiting for tokens retries at once.
  void update(const RateLimiterConfig& config);
  RateLimiterConfig config() const;
  // Requests refused so far (for tests and metrics).
  uint64_t throttled() const;

 private:
  void set_config(const RateLimiterConfig& config);
  void arm(std::chrono::nanoseconds wait);
  void timer_fired();

  mutable std::mutex mu_;
  RateLimiterConfig config_;
  std::optional<TokenBucket> bandwidth_, ops_;
  EventLoop* loop_;
  std::function<void()> on_refill_;
  UniqueFd timer_;
  uint64_t throttled_ = 0;
};

}  // namespace insula::virtio
