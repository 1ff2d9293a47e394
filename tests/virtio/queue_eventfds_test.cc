// A write to a queue's eventfd (what KVM does on an ioeventfd match) makes
// the device process that queue on the EventLoop thread.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "devices/virtio/queue_eventfds.h"
#include "devices/virtio/virtio_rng.h"
#include "fake_driver.h"

namespace insula::virtio {
namespace {

TEST(QueueEventfds, EventfdKickRunsTheQueueOnTheLoop) {
  testing::FakeRam ram(0x100000);
  testing::RecordingMsi msi;
  auto pci = std::make_shared<VirtioPci>(std::make_shared<VirtioRng>(), ram.mem, &msi, nullptr);
  testing::FakeDriver drv(*pci, ram);
  ASSERT_TRUE(drv.negotiate(kFVersion1));
  drv.setup_queue(0, 8, 0x1000);
  drv.driver_ok();
  EventLoop loop;
  QueueEventfds fds(pci, loop);
  ASSERT_EQ(fds.size(), 1u);
  std::thread t([&] { loop.run(); });
  drv.add(0, {testing::Seg{0x10000, 16, true}});
  uint64_t one = 1;
  ASSERT_EQ(::write(fds.fd(0), &one, sizeof one), ssize_t(sizeof one));
  std::optional<std::pair<uint32_t, uint32_t>> used;
  for (int i = 0; i < 2000 && !used; i++) {
    used = drv.used(0);
    if (!used) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  loop.stop();
  t.join();
  ASSERT_TRUE(used);
  EXPECT_EQ(used->second, 16u);
}

}  // namespace
}  // namespace insula::virtio
