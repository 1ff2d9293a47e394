// virtio-net on a real tap in a private network namespace; the other end of
// the tap is an AF_PACKET socket. Skips where taps cannot be made.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <thread>

#include "base/error.h"
#include "devices/virtio/virtio_net.h"
#include "fake_driver.h"

namespace insula::virtio {
namespace {

using testing::Seg;

constexpr uint16_t kEtherType = 0x88b5;  // IEEE local experimental
const MacAddress kGuestMac{0x52, 0x54, 0x00, 0x12, 0x34, 0x56};

// A tap "vtest0" in a fresh network namespace, up, without IPv6 chatter.
std::optional<Tap> make_tap() {
  if (::access("/dev/net/tun", R_OK | W_OK) != 0) return std::nullopt;
  if (::unshare(CLONE_NEWNET) != 0) return std::nullopt;
  try {
    Tap tap = Tap::open("vtest0");
    std::ofstream("/proc/sys/net/ipv6/conf/vtest0/disable_ipv6") << "1";
    tap.set_up();
    return tap;
  } catch (const Error&) {
    return std::nullopt;
  }
}

UniqueFd packet_socket(const std::string& ifname) {
  UniqueFd s(::socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(kEtherType)));
  EXPECT_TRUE(s.valid());
  sockaddr_ll sll{};
  sll.sll_family = AF_PACKET;
  sll.sll_protocol = htons(kEtherType);
  sll.sll_ifindex = int(if_nametoindex(ifname.c_str()));
  EXPECT_EQ(::bind(s.get(), reinterpret_cast<sockaddr*>(&sll), sizeof sll), 0);
  timeval tv{2, 0};
  ::setsockopt(s.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  return s;
}

std::vector<uint8_t> frame(size_t payload, uint8_t fill) {
  std::vector<uint8_t> f(14 + payload, fill);
  std::memset(f.data(), 0xff, 6);
  std::memcpy(f.data() + 6, kGuestMac.data(), 6);
  f[12] = kEtherType >> 8;
  f[13] = kEtherType & 0xff;
  return f;
}

struct NetRig {
  // With msix, queue q interrupts on vector q.
  explicit NetRig(Tap tap, uint64_t features, bool msix = false)
      : net(std::make_shared<VirtioNet>(std::move(tap), kGuestMac, &loop)),
        ram(0x200000),
        pci(net, ram.mem, &msi, nullptr),
        drv(pci, ram),
        loop_thread([this] { loop.run(); }) {
    if (msix) testing::enable_msix(pci, 3);
    EXPECT_TRUE(drv.negotiate(features));
    drv.setup_queue(0, 64, 0x1000, msix ? 0 : kNoVector);
    drv.setup_queue(1, 64, 0x4000, msix ? 1 : kNoVector);
    drv.driver_ok();
    EXPECT_EQ(drv.status(), 0xf);
  }
  ~NetRig() {
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
  EventLoop loop;
  std::shared_ptr<VirtioNet> net;
  testing::FakeRam ram;
  testing::RecordingMsi msi;
  VirtioPci pci;
  testing::FakeDriver drv;
  std::thread loop_thread;
};

// Every test here needs a tap of its own (make_tap) and skips without one.
class VirtioNet : public ::testing::Test {
 protected:
  void SetUp() override {
    tap_ = make_tap();
    if (!tap_) GTEST_SKIP() << "no /dev/net/tun or no permission for a network namespace";
    ifname_ = tap_->name();
  }
  Tap take_tap() { return std::move(*tap_); }
  std::optional<Tap> tap_;
  std::string ifname_;
};

TEST_F(VirtioNet, ConfigShowsMacAndLink) {
  NetRig r(take_tap(), kFVersion1 | kNetFMac | kNetFStatus);
  uint8_t mac[6];
  for (int i = 0; i < 6; i++) mac[i] = r.drv.r<uint8_t>(kDeviceCfgOffset + i);
  EXPECT_EQ(0, std::memcmp(mac, kGuestMac.data(), 6));
  EXPECT_EQ(r.drv.r<uint16_t>(kDeviceCfgOffset + 6), kNetSLinkUp);
  r.net->set_link(false);
  EXPECT_EQ(r.drv.r<uint16_t>(kDeviceCfgOffset + 6), 0);
}

TEST_F(VirtioNet, TransmitReachesTheTap) {
  NetRig r(take_tap(), kFVersion1 | kNetFMac);
  UniqueFd sock = packet_socket(ifname_);
  auto f = frame(100, 0x42);
  std::memset(&r.ram.bytes[0x10000], 0, kNetHdrSize);
  std::memcpy(&r.ram.bytes[0x11000], f.data(), f.size());
  r.drv.add(1, {Seg{0x10000, kNetHdrSize, false}, Seg{0x11000, uint32_t(f.size()), false}});
  r.drv.kick(1);
  ASSERT_TRUE(r.drv.used(1));
  uint8_t buf[2048];
  ssize_t n = ::recv(sock.get(), buf, sizeof buf, 0);
  ASSERT_EQ(n, ssize_t(f.size()));
  EXPECT_EQ(0, std::memcmp(buf, f.data(), f.size()));
  EXPECT_EQ(r.net->save().tx_frames, 1u);
}

// With EVENT_IDX the guest asks for a tx interrupt once the used index
// passes used_event. For GSO frames (larger than one Ethernet frame) it must
// come then, not after the rest of the batch went out (Linux's TCP holds a
// bulk sender back until its tx buffers return); small frames get the
// batch's one interrupt at its end.
TEST_F(VirtioNet, TransmitInterruptsAtOnceForGsoFramesOnly) {
  NetRig r(take_tap(), kFVersion1 | kNetFMac | kFRingEventIdx, true);
  UniqueFd sock = packet_socket(ifname_);
  std::vector<uint16_t> used_at_interrupt;
  r.msi.on_send = [&] { used_at_interrupt.push_back(r.drv.used_idx(1)); };
  std::memset(&r.ram.bytes[0x10000], 0, kNetHdrSize);
  auto send3 = [&](size_t payload) {
    auto f = frame(payload, 0x42);
    std::memcpy(&r.ram.bytes[0x11000], f.data(), f.size());
    for (int i = 0; i < 3; i++)
      r.drv.add(1, {Seg{0x10000, kNetHdrSize, false}, Seg{0x11000, uint32_t(f.size()), false}});
    r.drv.kick(1);
    for (int i = 0; i < 3; i++) ASSERT_TRUE(r.wait_used(1));
    uint8_t buf[4096];
    for (int i = 0; i < 3; i++) ASSERT_EQ(::recv(sock.get(), buf, sizeof buf, 0), ssize_t(f.size()));
  };
  r.drv.set_used_event(1, 0);  // an interrupt when the first frame is used
  send3(3000);
  r.drv.set_used_event(1, 3);  // and when the fourth is
  send3(100);
  std::lock_guard lock(r.msi.mu);
  ASSERT_EQ(used_at_interrupt.size(), 2u) << "one interrupt per batch: used_event is passed once in each";
  EXPECT_EQ(used_at_interrupt[0], 1u) << "a GSO frame's interrupt waited for the frames after it";
  EXPECT_EQ(used_at_interrupt[1], 6u) << "small frames interrupted before their batch was done";
}

TEST_F(VirtioNet, ReceiveIntoMergeableBuffers) {
  NetRig r(take_tap(), kFVersion1 | kNetFMac | kNetFMrgRxbuf);
  UniqueFd sock = packet_socket(ifname_);
  auto f = frame(1000, 0x17);  // 1014 bytes + 12 header over 512-byte buffers: 3 buffers
  ASSERT_EQ(::send(sock.get(), f.data(), f.size(), 0), ssize_t(f.size()));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_FALSE(r.drv.used(0));  // no buffers yet: the frame waits
  for (int i = 0; i < 4; i++) r.drv.add(0, {Seg{0x20000 + 0x1000ull * i, 512, true}});
  r.drv.kick(0);
  std::vector<std::pair<uint32_t, uint32_t>> used;
  while (auto u = r.wait_used(0)) {
    used.push_back(*u);
    if (used.size() == 3) break;
  }
  ASSERT_EQ(used.size(), 3u);
  EXPECT_EQ(used[0].second + used[1].second + used[2].second, f.size() + kNetHdrSize);
  uint16_t num_buffers;
  std::memcpy(&num_buffers, &r.ram.bytes[0x20000 + 10], 2);
  EXPECT_EQ(num_buffers, 3);
  EXPECT_EQ(0, std::memcmp(&r.ram.bytes[0x20000 + kNetHdrSize], f.data(), 512 - kNetHdrSize));
  EXPECT_EQ(0, std::memcmp(&r.ram.bytes[0x21000], f.data() + 500, 512));
  EXPECT_EQ(r.net->counters().rx_bounced, 1u);  // 2 KiB of buffers: too little to read into directly
}

// With room for the largest frame (64 KiB GSO) posted, frames are read from
// the tap straight into the guest's buffers; the buffers a frame does not
// need stay available for the next one.
TEST_F(VirtioNet, ReceiveStraightIntoMergeableBuffers) {
  NetRig r(take_tap(), kFVersion1 | kNetFMac | kNetFMrgRxbuf);
  UniqueFd sock = packet_socket(ifname_);
  // The first chain splits the 12-byte header 8 + 4, so num_buffers
  // (offset 10) lands in its second descriptor.
  uint16_t first = r.drv.add(0, {Seg{0x30000, 8, true}, Seg{0x30100, 1000, true}});
  std::vector<uint16_t> heads{first};
  for (int i = 0; i < 39; i++) heads.push_back(r.drv.add(0, {Seg{0x40000 + 0x800ull * i, 0x800, true}}));
  r.drv.kick(0);
  auto f1 = frame(1400, 0x5a);  // 12 + 1414 bytes: the first two chains
  auto f2 = frame(100, 0xa5);
  ASSERT_EQ(::send(sock.get(), f1.data(), f1.size(), 0), ssize_t(f1.size()));
  ASSERT_EQ(::send(sock.get(), f2.data(), f2.size(), 0), ssize_t(f2.size()));
  std::vector<std::pair<uint32_t, uint32_t>> used;
  while (auto u = r.wait_used(0)) {
    used.push_back(*u);
    if (used.size() == 3) break;
  }
  ASSERT_EQ(used.size(), 3u);
  EXPECT_EQ(used[0], std::make_pair(uint32_t(heads[0]), 1008u));
  EXPECT_EQ(used[1], std::make_pair(uint32_t(heads[1]), uint32_t(f1.size() + kNetHdrSize - 1008)));
  EXPECT_EQ(used[2], std::make_pair(uint32_t(heads[2]), uint32_t(f2.size() + kNetHdrSize)));
  uint16_t num_buffers;
  std::memcpy(&num_buffers, &r.ram.bytes[0x30100 + 2], 2);
  EXPECT_EQ(num_buffers, 2);
  EXPECT_EQ(0, std::memcmp(&r.ram.bytes[0x30100 + 4], f1.data(), 996));
  EXPECT_EQ(0, std::memcmp(&r.ram.bytes[0x40000], f1.data() + 996, f1.size() - 996));
  std::memcpy(&num_buffers, &r.ram.bytes[0x40800 + 10], 2);
  EXPECT_EQ(num_buffers, 1);
  EXPECT_EQ(0, std::memcmp(&r.ram.bytes[0x40800 + kNetHdrSize], f2.data(), f2.size()));
  auto c = r.net->counters();
  EXPECT_EQ(c.rx_direct, 2u);
  EXPECT_EQ(c.rx_bounced, 0u);
  EXPECT_EQ(r.net->save().rx_frames, 2u);
}

// Each frame takes buffers for the largest one (64 KiB) and fills what it
// needs; the rest go back, so the next frame, in the same wakeup or a later
// one, takes the driver's next buffer and none is lost.
TEST_F(VirtioNet, ReceiveUsesBuffersInOrderAcrossFramesAndWakeups) {
  NetRig r(take_tap(), kFVersion1 | kNetFMac | kNetFMrgRxbuf);
  UniqueFd sock = packet_socket(ifname_);
  std::vector<uint16_t> heads;
  for (int i = 0; i < 50; i++) heads.push_back(r.drv.add(0, {Seg{0x40000 + 0x800ull * i, 0x800, true}}));
  r.drv.kick(0);
  std::vector<std::vector<uint8_t>> frames;
  for (int i = 0; i < 4; i++) {
    frames.push_back(frame(60 + 100 * i, uint8_t(0x10 + i)));
    ASSERT_EQ(::send(sock.get(), frames.back().data(), frames.back().size(), 0), ssize_t(frames.back().size()));
  }
  std::vector<std::pair<uint32_t, uint32_t>> used;
  while (used.size() < 4)
    if (auto u = r.wait_used(0)) used.push_back(*u);
    else break;
  // A later wakeup of the device.
  frames.push_back(frame(1000, 0x77));
  ASSERT_EQ(::send(sock.get(), frames.back().data(), frames.back().size(), 0), ssize_t(frames.back().size()));
  if (auto u = r.wait_used(0)) used.push_back(*u);
  ASSERT_EQ(used.size(), 5u);
  for (size_t i = 0; i < 5; i++) {
    EXPECT_EQ(used[i], std::make_pair(uint32_t(heads[i]), uint32_t(frames[i].size() + kNetHdrSize))) << "frame " << i;
    EXPECT_EQ(0, std::memcmp(&r.ram.bytes[0x40000 + 0x800 * i + kNetHdrSize], frames[i].data(), frames[i].size()))
        << "frame " << i;
  }
  EXPECT_EQ(r.net->counters().rx_direct, 5u);
}

TEST_F(VirtioNet, ReceiveWithoutMergeableNeedsWholeFrameBuffers) {
  NetRig r(take_tap(), kFVersion1 | kNetFMac);
  UniqueFd sock = packet_socket(ifname_);
  r.drv.add(0, {Seg{0x20000, 1526, true}});
  r.drv.kick(0);
  auto f = frame(200, 0x99);
  ASSERT_EQ(::send(sock.get(), f.data(), f.size(), 0), ssize_t(f.size()));
  auto u = r.wait_used(0);
  ASSERT_TRUE(u);
  EXPECT_EQ(u->second, f.size() + kNetHdrSize);
  EXPECT_EQ(0, std::memcmp(&r.ram.bytes[0x20000 + kNetHdrSize], f.data(), f.size()));
}

// Without mergeable buffers a GSO-capable guest posts 64 KiB chains: each
// frame is read straight into one of them.
TEST_F(VirtioNet, ReceiveStraightIntoOneBigChain) {
  NetRig r(take_tap(), kFVersion1 | kNetFMac);
  UniqueFd sock = packet_socket(ifname_);
  uint16_t head = r.drv.add(0, {Seg{0x60000, kNetHdrSize, true}, Seg{0x61000, 0x10000, true}, Seg{0x71000, 0x100, true}});
  r.drv.kick(0);
  auto f = frame(200, 0x3c);
  ASSERT_EQ(::send(sock.get(), f.data(), f.size(), 0), ssize_t(f.size()));
  auto u = r.wait_used(0);
  ASSERT_TRUE(u);
  EXPECT_EQ(*u, std::make_pair(uint32_t(head), uint32_t(f.size() + kNetHdrSize)));
  uint16_t num_buffers;
  std::memcpy(&num_buffers, &r.ram.bytes[0x60000 + 10], 2);
  EXPECT_EQ(num_buffers, 1);
  EXPECT_EQ(0, std::memcmp(&r.ram.bytes[0x61000], f.data(), f.size()));
  EXPECT_EQ(r.net->counters().rx_direct, 1u);
}

// A receive limit of one frame per hour: the first frame is delivered, the
// second waits in the device (not in guest memory: a limited receive goes
// through the bounce buffer, charged before the guest gets it) until PATCH
// lifts the limit.
TEST_F(VirtioNet, ReceiveRateLimitHoldsFramesUntilLifted) {
  NetRig r(take_tap(), kFVersion1 | kNetFMac | kNetFMrgRxbuf);
  r.net->set_rate_limiters(RateLimiterConfig{{}, {1, 0, 3'600'000}}, std::nullopt);
  for (int i = 0; i < 2; i++) r.drv.add(0, {Seg{0x40000 + 0x20000ull * i, 0x12000, true}});
  r.drv.kick(0);
  UniqueFd sock = packet_socket(ifname_);
  auto f1 = frame(200, 0x31), f2 = frame(300, 0x32);
  ASSERT_EQ(::send(sock.get(), f1.data(), f1.size(), 0), ssize_t(f1.size()));
  ASSERT_EQ(::send(sock.get(), f2.data(), f2.size(), 0), ssize_t(f2.size()));
  auto u1 = r.wait_used(0);
  ASSERT_TRUE(u1);
  EXPECT_EQ(u1->second, f1.size() + kNetHdrSize);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_FALSE(r.drv.used(0)) << "a second frame went past a one-frame bucket";
  r.net->set_rate_limiters(RateLimiterConfig{}, std::nullopt);
  auto u2 = r.wait_used(0);
  ASSERT_TRUE(u2);
  EXPECT_EQ(u2->second, f2.size() + kNetHdrSize);
  EXPECT_EQ(0, std::memcmp(&r.ram.bytes[0x60000 + kNetHdrSize], f2.data(), f2.size()));
  EXPECT_EQ(r.net->counters().rx_direct, 0u);
}

}  // namespace
}  // namespace insula::virtio
