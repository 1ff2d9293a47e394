// virtio-vsock with Firecracker-style unix sockets on the host side.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <thread>

#include <fmt/format.h>

#include "devices/virtio/virtio_vsock.h"
#include "fake_driver.h"

namespace insula::virtio {
namespace {

using testing::Seg;

constexpr uint64_t kCid = 3;
constexpr uint64_t kRxBase = 0x40000, kTxBase = 0x80000;

UniqueFd unix_connect(const std::string& path) {
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::strncpy(a.sun_path, path.c_str(), sizeof a.sun_path - 1);
  EXPECT_EQ(::connect(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a), 0) << path;
  timeval tv{2, 0};
  ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  return fd;
}

UniqueFd unix_listen(const std::string& path) {
  ::unlink(path.c_str());
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::strncpy(a.sun_path, path.c_str(), sizeof a.sun_path - 1);
  EXPECT_EQ(::bind(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  EXPECT_EQ(::listen(fd.get(), 4), 0);
  return fd;
}

std::string read_some(int fd) {
  char buf[256];
  ssize_t n = ::recv(fd, buf, sizeof buf, 0);
  return n > 0 ? std::string(buf, size_t(n)) : std::string();
}

struct VsockRig {
  VsockRig()
      : dir(make_dir()),
        path(dir + "/v.sock"),
        vsock(std::make_shared<VirtioVsock>(kCid, path, &loop)),
        ram(0x100000),
        pci(vsock, ram.mem, &msi, nullptr),
        drv(pci, ram),
        loop_thread([this] { loop.run(); }) {
    vsock->start();
    EXPECT_TRUE(drv.negotiate(kFVersion1));
    drv.setup_queue(0, 32, 0x1000);
    drv.setup_queue(1, 32, 0x3000);
    drv.setup_queue(2, 32, 0x5000);
    drv.driver_ok();
    EXPECT_EQ(drv.status(), 0xf);
    EXPECT_EQ(drv.r<uint64_t>(kDeviceCfgOffset), kCid);
    for (int i = 0; i < 8; i++) post_rx(i);
    drv.kick(0);
  }
  ~VsockRig() {
    loop.stop();
    loop_thread.join();
    vsock.reset();
    std::filesystem::remove_all(dir);
  }
  static std::string make_dir() {
    char tmpl[] = "/tmp/insula-vsock-XXXXXX";
    return ::mkdtemp(tmpl);
  }
  void post_rx(int slot) { drv.add(0, {Seg{kRxBase + 0x1000ull * uint64_t(slot % 16), 0x1000, true}}); }
  // Next packet the device put in the rx queue (header + payload).
  std::optional<std::pair<VsockHeader, std::string>> rx() {
    for (int i = 0; i < 2000; i++) {
      if (auto u = drv.used(0)) {
        uint64_t addr = kRxBase + 0x1000ull * ((rx_seen++) % 16);
        VsockHeader h;
        std::memcpy(&h, &ram.bytes[addr], sizeof h);
        std::string payload(reinterpret_cast<char*>(&ram.bytes[addr + sizeof h]), h.len);
        post_rx(rx_posted++ + 8);
        drv.kick(0);
        return std::make_pair(h, payload);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return std::nullopt;
  }
  void tx(uint32_t src_port, uint32_t dst_port, VsockOp op, const std::string& data = {}, uint32_t flags = 0,
          uint32_t buf_alloc = 65536, uint32_t fwd_cnt = 0) {
    VsockHeader h{kCid, kVsockHostCid, src_port, dst_port, uint32_t(data.size()), kVsockTypeStream, uint16_t(op),
                  flags, buf_alloc, fwd_cnt};
    uint64_t addr = kTxBase + 0x1000ull * (tx_count++ % 16);
    std::memcpy(&ram.bytes[addr], &h, sizeof h);
    std::memcpy(&ram.bytes[addr + 0x800], data.data(), data.size());
    std::vector<Seg> segs{Seg{addr, sizeof h, false}};
    if (!data.empty()) segs.push_back(Seg{addr + 0x800, uint32_t(data.size()), false});
    drv.add(1, segs);
    drv.kick(1);
    EXPECT_TRUE(drv.used(1));
  }

  std::string dir, path;
  EventLoop loop;
  std::shared_ptr<VirtioVsock> vsock;
  testing::FakeRam ram;
  testing::RecordingMsi msi;
  VirtioPci pci;
  testing::FakeDriver drv;
  std::thread loop_thread;
  int rx_seen = 0, rx_posted = 0, tx_count = 0;
};

TEST(VirtioVsock, HostInitiatedConnectEchoAndShutdown) {
  VsockRig r;
  UniqueFd host = unix_connect(r.path);
  ASSERT_EQ(::send(host.get(), "CONNECT 1234\n", 13, 0), 13);
  auto req = r.rx();
  ASSERT_TRUE(req);
  EXPECT_EQ(req->first.op, uint16_t(VsockOp::kRequest));
  EXPECT_EQ(req->first.dst_port, 1234u);
  EXPECT_EQ(req->first.dst_cid, kCid);
  EXPECT_EQ(req->first.src_cid, kVsockHostCid);
  uint32_t host_port = req->first.src_port;
  r.tx(1234, host_port, VsockOp::kResponse);
  EXPECT_EQ(read_some(host.get()), fmt::format("OK {}\n", host_port));
  ASSERT_EQ(::send(host.get(), "ping", 4, 0), 4);
  auto data = r.rx();
  ASSERT_TRUE(data);
  EXPECT_EQ(data->first.op, uint16_t(VsockOp::kRw));
  EXPECT_EQ(data->second, "ping");
  r.tx(1234, host_port, VsockOp::kRw, "pong");
  EXPECT_EQ(read_some(host.get()), "pong");
  r.tx(1234, host_port, VsockOp::kShutdown, {}, kVsockShutdownRcv | kVsockShutdownSend);
  auto rst = r.rx();
  ASSERT_TRUE(rst);
  EXPECT_EQ(rst->first.op, uint16_t(VsockOp::kRst));
  EXPECT_EQ(read_some(host.get()), "");  // EOF
  EXPECT_EQ(r.vsock->connection_count(), 0u);
}

TEST(VirtioVsock, GuestInitiatedReachesPortSocket) {
  VsockRig r;
  UniqueFd listener = unix_listen(r.path + "_5000");
  r.tx(40000, 5000, VsockOp::kRequest);
  auto resp = r.rx();
  ASSERT_TRUE(resp);
  EXPECT_EQ(resp->first.op, uint16_t(VsockOp::kResponse));
  EXPECT_EQ(resp->first.src_port, 5000u);
  EXPECT_EQ(resp->first.dst_port, 40000u);
  UniqueFd conn(::accept(listener.get(), nullptr, nullptr));
  ASSERT_TRUE(conn.valid());
  r.tx(40000, 5000, VsockOp::kRw, "hello host");
  EXPECT_EQ(read_some(conn.get()), "hello host");
  ASSERT_EQ(::send(conn.get(), "hello guest", 11, 0), 11);
  auto data = r.rx();
  ASSERT_TRUE(data);
  EXPECT_EQ(data->second, "hello guest");
  conn.reset();  // host closes: guest hears a shutdown
  auto shut = r.rx();
  ASSERT_TRUE(shut);
  EXPECT_EQ(shut->first.op, uint16_t(VsockOp::kShutdown));
}

TEST(VirtioVsock, HostDataRespectsGuestCredit) {
  VsockRig r;
  UniqueFd host = unix_connect(r.path);
  ASSERT_EQ(::send(host.get(), "CONNECT 77\n", 11, 0), 11);
  auto req = r.rx();
  ASSERT_TRUE(req);
  uint32_t host_port = req->first.src_port;
  r.tx(77, host_port, VsockOp::kResponse, {}, 0, /*buf_alloc=*/8, /*fwd_cnt=*/0);
  EXPECT_EQ(read_some(host.get()), fmt::format("OK {}\n", host_port));
  ASSERT_EQ(::send(host.get(), "0123456789abcdef", 16, 0), 16);
  auto first = r.rx();
  ASSERT_TRUE(first);
  EXPECT_EQ(first->second, "01234567");  // only the guest's 8 bytes of credit
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_FALSE(r.drv.used(0));  // nothing more until the guest frees room
  r.tx(77, host_port, VsockOp::kCreditUpdate, {}, 0, 8, 8);
  auto second = r.rx();
  ASSERT_TRUE(second);
  EXPECT_EQ(second->second, "89abcdef");
}

// A guest may shrink its buf_alloc below what the host already sent: the
// device must then wait until fwd_cnt catches up, not wrap the credit around.
TEST(VirtioVsock, ShrunkBufAllocGivesNoCredit) {
  VsockRig r;
  UniqueFd host = unix_connect(r.path);
  ASSERT_EQ(::send(host.get(), "CONNECT 78\n", 11, 0), 11);
  auto req = r.rx();
  ASSERT_TRUE(req);
  uint32_t host_port = req->first.src_port;
  r.tx(78, host_port, VsockOp::kResponse, {}, 0, /*buf_alloc=*/8, /*fwd_cnt=*/0);
  EXPECT_EQ(read_some(host.get()), fmt::format("OK {}\n", host_port));
  ASSERT_EQ(::send(host.get(), "0123456789abcdef", 16, 0), 16);
  auto first = r.rx();
  ASSERT_TRUE(first);
  EXPECT_EQ(first->second, "01234567");
  r.tx(78, host_port, VsockOp::kCreditUpdate, {}, 0, /*buf_alloc=*/4, /*fwd_cnt=*/0);  // 8 in flight > 4
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_FALSE(r.drv.used(0));
  r.tx(78, host_port, VsockOp::kCreditUpdate, {}, 0, 4, 8);  // consumed: 4 bytes of room
  auto second = r.rx();
  ASSERT_TRUE(second);
  EXPECT_EQ(second->second, "89ab");
}

// SHUTDOWN with only the RCV flag: the guest takes no more data, so the
// device must stop sending it, while the guest may still send.
TEST(VirtioVsock, GuestShutdownRcvStopsData) {
  VsockRig r;
  UniqueFd host = unix_connect(r.path);
  ASSERT_EQ(::send(host.get(), "CONNECT 79\n", 11, 0), 11);
  auto req = r.rx();
  ASSERT_TRUE(req);
  uint32_t host_port = req->first.src_port;
  r.tx(79, host_port, VsockOp::kResponse);
  EXPECT_EQ(read_some(host.get()), fmt::format("OK {}\n", host_port));
  r.tx(79, host_port, VsockOp::kShutdown, {}, kVsockShutdownRcv);
  ASSERT_EQ(::send(host.get(), "unwanted", 8, 0), 8);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_FALSE(r.drv.used(0));
  r.tx(79, host_port, VsockOp::kRw, "still sending");
  EXPECT_EQ(read_some(host.get()), "still sending");
  EXPECT_EQ(r.vsock->connection_count(), 1u);
  // SEND later completes the close: the flags add up.
  r.tx(79, host_port, VsockOp::kShutdown, {}, kVsockShutdownSend);
  auto rst = r.rx();
  ASSERT_TRUE(rst);
  EXPECT_EQ(rst->first.op, uint16_t(VsockOp::kRst));
  EXPECT_EQ(r.vsock->connection_count(), 0u);
}

TEST(VirtioVsock, NoListenerMeansReset) {
  VsockRig r;
  r.tx(40001, 6000, VsockOp::kRequest);
  auto rst = r.rx();
  ASSERT_TRUE(rst);
  EXPECT_EQ(rst->first.op, uint16_t(VsockOp::kRst));
  // Data for an unknown connection is answered with RST too.
  r.tx(40001, 6000, VsockOp::kRw, "x");
  auto rst2 = r.rx();
  ASSERT_TRUE(rst2);
  EXPECT_EQ(rst2->first.op, uint16_t(VsockOp::kRst));
}

TEST(VirtioVsock, BadConnectLineIsDropped) {
  VsockRig r;
  UniqueFd host = unix_connect(r.path);
  ASSERT_EQ(::send(host.get(), "HELLO\n", 6, 0), 6);
  EXPECT_EQ(read_some(host.get()), "");  // closed by the device
  EXPECT_EQ(r.vsock->connection_count(), 0u);
}

}  // namespace
}  // namespace insula::virtio
