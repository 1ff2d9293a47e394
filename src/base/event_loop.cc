// epoll-based event loop.
#include "base/event_loop.h"

#include <sys/epoll.h>
#include <sys/eventfd.h>

#include <cerrno>

#include "base/error.h"

namespace insula {

EventLoop::EventLoop()
    : epoll_(::epoll_create1(EPOLL_CLOEXEC)), wake_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
  if (!epoll_ || !wake_) throw errno_error("creating event loop");
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = wake_.get();
  if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, wake_.get(), &ev) < 0) throw errno_error("epoll_ctl");
}

EventLoop::~EventLoop() = default;

void EventLoop::add(int fd, Callback cb, uint32_t events) {
  std::lock_guard lock(mu_);
  epoll_event ev{};
  ev.events = events;
  ev.data.fd = fd;
  if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev) < 0) throw errno_error(fmt::format("watching fd {}", fd));
  callbacks_[fd] = std::make_shared<Callback>(std::move(cb));
}

void EventLoop::remove(int fd) {
  std::lock_guard lock(mu_);
  ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, fd, nullptr);
  callbacks_.erase(fd);
}

void EventLoop::stop() {
  stopping_ = true;
  uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(wake_.get(), &one, sizeof one);
}

void EventLoop::run() {
  epoll_event events[32];
  while (!stopping_) {
    int n = ::epoll_wait(epoll_.get(), events, 32, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw errno_error("epoll_wait");
    }
    for (int i = 0; i < n && !stopping_; ++i) {
      int fd = events[i].data.fd;
      if (fd == wake_.get()) continue;
      std::shared_ptr<Callback> cb;
      {
        std::lock_guard lock(mu_);
        auto it = callbacks_.find(fd);
        if (it == callbacks_.end()) continue;  // removed by an earlier callback
        cb = it->second;
      }
      (*cb)(events[i].events);
    }
  }
}

}  // namespace insula
