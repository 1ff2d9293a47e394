// Token buckets and the rate limiter (Firecracker's rate_limiter semantics),
// on a clock the test moves by hand.
#include "devices/virtio/rate_limiter.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "base/event_loop.h"

namespace insula::virtio {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

TEST(TokenBucket, StartsFullAndRefillsLinearly) {
  auto t0 = Clock::time_point{} + 1h;
  TokenBucket b({1000, 0, 100}, t0);  // 1000 tokens per 100 ms
  ASSERT_TRUE(b.can_take(1000, t0));
  b.take(1000);
  EXPECT_FALSE(b.can_take(1, t0));
  EXPECT_EQ(b.wait_for(1, t0), 100us);
  EXPECT_EQ(b.wait_for(500, t0), 50ms);
  EXPECT_FALSE(b.can_take(500, t0 + 49ms));
  EXPECT_TRUE(b.can_take(500, t0 + 50ms));
  // Never more than size.
  EXPECT_EQ((TokenBucket({1000, 0, 100}, t0).budget()), 1000);
  TokenBucket c({1000, 0, 100}, t0);
  c.can_take(1, t0 + 1h);
  EXPECT_EQ(c.budget(), 1000);
}

TEST(TokenBucket, NoFractionOfATokenIsLost) {
  auto t0 = Clock::time_point{} + 1h;
  TokenBucket b({3, 0, 1}, t0);  // 3 tokens per ms: one per 333.33 us
  b.take(3);
  for (int i = 1; i <= 3; ++i) ASSERT_TRUE(b.can_take(0, t0 + i * 333333ns + 1ns));
  EXPECT_EQ(b.budget(), 3) << "three thirds of a millisecond make one millisecond's worth";
}

TEST(TokenBucket, OneTimeBurstIsSpentFirstAndNeverRefilled) {
  auto t0 = Clock::time_point{} + 1h;
  TokenBucket b({100, 1000, 1000}, t0);
  ASSERT_TRUE(b.can_take(1000, t0));
  b.take(1000);
  EXPECT_EQ(b.one_time_burst(), 0u);
  EXPECT_EQ(b.budget(), 100) << "the burst went first";
  b.take(100);
  EXPECT_FALSE(b.can_take(1, t0));
  EXPECT_TRUE(b.can_take(100, t0 + 1s));
  EXPECT_EQ(b.one_time_burst(), 0u);
}

TEST(TokenBucket, ARequestLargerThanTheBucketWaitsForAFullOneAndLeavesDebt) {
  auto t0 = Clock::time_point{} + 1h;
  TokenBucket b({100, 0, 100}, t0);  // 1 token per ms
  b.take(50);
  EXPECT_FALSE(b.can_take(300, t0)) << "must wait for a full bucket";
  EXPECT_EQ(b.wait_for(300, t0), 50ms);
  ASSERT_TRUE(b.can_take(300, t0 + 50ms));
  b.take(300);
  EXPECT_EQ(b.budget(), -200);
  EXPECT_EQ(b.wait_for(1, t0 + 50ms), 201ms) << "the debt is paid off before anything else goes";
}

TEST(TokenBucket, HugeValuesDoNotOverflow) {
  auto t0 = Clock::time_point{} + 1h;
  TokenBucket b({UINT64_MAX, UINT64_MAX, 3'600'000}, t0);
  EXPECT_TRUE(b.can_take(UINT64_MAX, t0));
  b.take(UINT64_MAX);
  b.take(UINT64_MAX);
  EXPECT_LT(b.budget(), 0);
  EXPECT_GT(b.wait_for(1, t0).count(), 0);
  EXPECT_TRUE(b.can_take(1, t0 + 24h * 365 * 100));
}

TEST(RateLimiter, BothBucketsMustAgreeAndNeitherIsSpentOnARefusal) {
  RateLimiter l({{1000, 0, 1000}, {2, 0, 1000}}, nullptr, nullptr);
  auto t0 = Clock::now();  // the buckets started at construction
  EXPECT_TRUE(l.try_take(400, t0));
  EXPECT_TRUE(l.try_take(400, t0));
  EXPECT_FALSE(l.try_take(100, t0)) << "two operations per second";
  EXPECT_FALSE(l.try_take(800, t0 + 500ms)) << "an op is back, 700 bytes are not enough";
  EXPECT_TRUE(l.try_take(700, t0 + 500ms));
  EXPECT_EQ(l.throttled(), 2u);
  RateLimiter none({}, nullptr, nullptr);
  for (int i = 0; i < 1000; ++i) ASSERT_TRUE(none.try_take(1u << 30, t0));
}

TEST(RateLimiter, TheTimerCallsBackWhenTokensAreThereAndAnUpdateRetriesAtOnce) {
  EventLoop loop;
  std::atomic<int> calls{0};
  RateLimiter l({{}, {1, 0, 50}}, &loop, [&] { calls++; });  // one op per 50 ms
  std::thread t([&] { loop.run(); });
  ASSERT_TRUE(l.try_take(0));
  ASSERT_FALSE(l.try_take(0));
  for (int i = 0; i < 200 && calls == 0; ++i) std::this_thread::sleep_for(5ms);
  EXPECT_EQ(calls, 1) << "no callback after the refill time";
  EXPECT_TRUE(l.try_take(0));
  l.update({});
  for (int i = 0; i < 200 && calls == 1; ++i) std::this_thread::sleep_for(5ms);
  EXPECT_EQ(calls, 2) << "an update did not wake the device";
  EXPECT_TRUE(l.try_take(1u << 30));
  EXPECT_FALSE(l.config().enabled());
  loop.stop();
  t.join();
}

}  // namespace
}  // namespace insula::virtio
