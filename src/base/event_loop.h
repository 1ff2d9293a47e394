// EventLoop: an epoll loop run by one thread; callbacks per file descriptor.
//
// Device back ends (virtqueue notifications through ioeventfd, tap, sockets,
// the console's stdin) register here. add/remove may be called from any
// thread; callbacks run on the loop's thread.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>

#include "base/fd.h"

namespace insula {

class EventLoop {
 public:
  using Callback = std::function<void(uint32_t events)>;

  EventLoop();
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  // Watches fd for events (EPOLLIN by default). fd stays owned by the caller
  // and must be removed before it is closed.
  void add(int fd, Callback cb, uint32_t events = 0x001 /* EPOLLIN */);
  void remove(int fd);

  // Runs callbacks until stop(). Returns after the current callback finishes.
  void run();
  // Safe from any thread, including a callback.
  void stop();

 private:
  UniqueFd epoll_;
  UniqueFd wake_;  // eventfd that interrupts epoll_wait for stop()
  std::mutex mu_;
  std::map<int, std::shared_ptr<Callback>> callbacks_;
  std::atomic<bool> stopping_{false};
};

}  // namespace insula
