// lock_within: takes a mutex if it comes free within a time limit. For
// diagnostics that must not hang on the state they report (a device-state
// dump taken because a guest hangs: a lock held for good is said, not
// waited for).
#pragma once

#include <chrono>
#include <mutex>
#include <thread>

namespace insula {

// The returned lock owns the mutex, or (after `limit`) does not.
template <typename Mutex>
std::unique_lock<Mutex> lock_within(Mutex& m, std::chrono::milliseconds limit) {
  std::unique_lock<Mutex> lock(m, std::try_to_lock);
  const auto end = std::chrono::steady_clock::now() + limit;
  while (!lock.owns_lock() && std::chrono::steady_clock::now() < end) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
    lock.try_lock();
  }
  return lock;
}

}  // namespace insula
