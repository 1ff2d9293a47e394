// virtio-console with pipes as the host side and a real EventLoop.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <thread>

#include "base/fd.h"
#include "devices/virtio/virtio_console.h"
#include "fake_driver.h"

namespace insula::virtio {
namespace {

using testing::Seg;

struct Pipe {
  Pipe() {
    int fds[2];
    EXPECT_EQ(::pipe(fds), 0);
    r.reset(fds[0]);
    w.reset(fds[1]);
  }
  UniqueFd r, w;
};

struct ConsoleRig {
  ConsoleRig()
      : console(std::make_shared<VirtioConsole>(in.r.get(), out.w.get(), &loop, 120, 40)),
        ram(0x100000),
        pci(console, ram.mem, &msi, nullptr),
        drv(pci, ram),
        loop_thread([this] { loop.run(); }) {
    EXPECT_TRUE(drv.negotiate(kFVersion1));
    drv.setup_queue(0, 16, 0x1000);
    drv.setup_queue(1, 16, 0x4000);
    drv.driver_ok();
  }
  ~ConsoleRig() {
    loop.stop();
    loop_thread.join();
  }
  std::optional<std::pair<uint32_t, uint32_t>> wait_used(uint16_t q) {
    for (int i = 0; i < 2000; i++) {
      if (auto u = drv.used(q)) return u;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return std::nullopt;
  }
  Pipe in, out;
  EventLoop loop;
  std::shared_ptr<VirtioConsole> console;
  testing::FakeRam ram;
  testing::RecordingMsi msi;
  VirtioPci pci;
  testing::FakeDriver drv;
  std::thread loop_thread;
};

TEST(VirtioConsole, ConfigHasSizeAndOnePort) {
  ConsoleRig r;
  EXPECT_EQ(r.drv.r<uint16_t>(kDeviceCfgOffset), 120);
  EXPECT_EQ(r.drv.r<uint16_t>(kDeviceCfgOffset + 2), 40);
  EXPECT_EQ(r.drv.r<uint32_t>(kDeviceCfgOffset + 4), 1u);
  uint8_t gen = r.drv.r<uint8_t>(21);
  r.console->resize(100, 30);
  EXPECT_EQ(r.drv.r<uint16_t>(kDeviceCfgOffset), 100);
  EXPECT_NE(r.drv.r<uint8_t>(21), gen);
}

TEST(VirtioConsole, GuestOutputReachesHostFd) {
  ConsoleRig r;
  std::memcpy(&r.ram.bytes[0x10000], "hello ", 6);
  std::memcpy(&r.ram.bytes[0x11000], "hvc0\n", 5);
  r.drv.add(1, {Seg{0x10000, 6, false}, Seg{0x11000, 5, false}});
  r.drv.kick(1);
  ASSERT_TRUE(r.drv.used(1));
  char buf[32] = {};
  ASSERT_EQ(::read(r.out.r.get(), buf, sizeof buf), 11);
  EXPECT_STREQ(buf, "hello hvc0\n");
  // Emergency write through config space.
  r.drv.w<uint32_t>(kDeviceCfgOffset + 8, '!');
  ASSERT_EQ(::read(r.out.r.get(), buf, 1), 1);
  EXPECT_EQ(buf[0], '!');
}

TEST(VirtioConsole, HostInputReachesGuestEvenWhenBuffersComeLater) {
  ConsoleRig r;
  ASSERT_EQ(::write(r.in.w.get(), "ls\n", 3), 3);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_FALSE(r.drv.used(0));  // no receive buffer yet: input waits
  r.drv.add(0, {Seg{0x20000, 2, true}});
  r.drv.add(0, {Seg{0x21000, 64, true}});
  r.drv.kick(0);
  auto u1 = r.wait_used(0);
  auto u2 = r.wait_used(0);
  ASSERT_TRUE(u1 && u2);
  EXPECT_EQ(u1->second, 2u);
  EXPECT_EQ(u2->second, 1u);
  EXPECT_EQ(std::string(reinterpret_cast<char*>(&r.ram.bytes[0x20000]), 2), "ls");
  EXPECT_EQ(r.ram.bytes[0x21000], '\n');
  // Later input goes straight to a waiting buffer from the loop thread.
  r.drv.add(0, {Seg{0x22000, 64, true}});
  r.drv.kick(0);
  ASSERT_EQ(::write(r.in.w.get(), "x", 1), 1);
  auto u3 = r.wait_used(0);
  ASSERT_TRUE(u3);
  EXPECT_EQ(r.ram.bytes[0x22000], 'x');
}

}  // namespace
}  // namespace insula::virtio
