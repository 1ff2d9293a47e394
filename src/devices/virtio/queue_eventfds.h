// QueueEventfds: one eventfd per virtqueue of a VirtioPci, watched on an
// EventLoop; when one fires, the transport's notify(q) runs on the loop
// thread. The machine registers each fd with KVM_IOEVENTFD at
// VirtioPci::notify_address(q), so a guest kick never exits to a vCPU
// thread's MMIO handler. Testable without KVM: writing to fd(q) is a kick.
#pragma once

#include <memory>
#include <vector>

#include "base/event_loop.h"
#include "base/fd.h"
#include "devices/virtio/virtio_pci.h"

namespace insula::virtio {

class QueueEventfds {
 public:
  QueueEventfds(std::shared_ptr<VirtioPci> device, EventLoop& loop);
  ~QueueEventfds();
  QueueEventfds(const QueueEventfds&) = delete;
  QueueEventfds& operator=(const QueueEventfds&) = delete;

  size_t size() const { return fds_.size(); }
  int fd(size_t queue) const { return fds_.at(queue).get(); }

 private:
  std::shared_ptr<VirtioPci> device_;
  EventLoop& loop_;
  std::vector<UniqueFd> fds_;
};

}  // namespace insula::virtio
