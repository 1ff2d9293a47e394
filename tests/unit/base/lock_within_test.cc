// lock_within: a free mutex is taken at once; one held elsewhere is given up
// on after the limit, and taken if it is released before.
#include "base/lock_within.h"

#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <mutex>
#include <thread>

namespace insula {
namespace {

using namespace std::chrono_literals;

TEST(LockWithin, TakesAFreeMutex) {
  std::mutex m;
  auto lock = lock_within(m, 1000ms);
  EXPECT_TRUE(lock.owns_lock());
}

TEST(LockWithin, GivesUpOnAHeldMutexAfterTheLimit) {
  std::mutex m;
  std::lock_guard held(m);
  auto t0 = std::chrono::steady_clock::now();
  // Tried from another thread: std::mutex is not recursive.
  bool owned = std::async(std::launch::async, [&] { return lock_within(m, 50ms).owns_lock(); }).get();
  EXPECT_FALSE(owned);
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 50ms);
}

TEST(LockWithin, TakesAMutexReleasedBeforeTheLimit) {
  std::mutex m;
  std::unique_lock held(m);
  auto taker = std::async(std::launch::async, [&] { return lock_within(m, 10s).owns_lock(); });
  std::this_thread::sleep_for(20ms);
  held.unlock();
  EXPECT_TRUE(taker.get());
}

}  // namespace
}  // namespace insula
