// QueueEventfds: eventfd per queue -> VirtioPci::notify on the EventLoop.
#include "devices/virtio/queue_eventfds.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include "base/error.h"

namespace insula::virtio {

QueueEventfds::QueueEventfds(std::shared_ptr<VirtioPci> device, EventLoop& loop)
    : device_(std::move(device)), loop_(loop) {
  for (size_t q = 0; q < device_->num_queues(); q++) {
    UniqueFd fd(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
    if (!fd) throw errno_error(fmt::format("{}: creating the notify eventfd of queue {}", device_->name(), q));
    int raw = fd.get();
    // The callback holds only a weak reference: the device may go first.
    std::weak_ptr<VirtioPci> weak = device_;
    loop_.add(raw, [weak, raw, q](uint32_t) {
      uint64_t count;
      if (::read(raw, &count, sizeof count) != sizeof count) return;
      if (auto dev = weak.lock()) dev->notify(q);
    });
    fds_.push_back(std::move(fd));
  }
}

QueueEventfds::~QueueEventfds() {
  for (auto& fd : fds_) loop_.remove(fd.get());
}

}  // namespace insula::virtio
