// The VMM process's API end to end on /dev/kvm: configure, start, pause (the
// ticker guest's output stops), resume, the console socket, shutdown; and a
// guest that ends by itself ends its VMM.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cstring>
#include <thread>

#include "base/fd.h"
#include "run_cli.h"
#include "vmm_fixture.h"

namespace insula::testing {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

UniqueFd connect_console(const std::string& path) {
  UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::strncpy(a.sun_path, path.c_str(), sizeof a.sun_path - 1);
  if (connect(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return UniqueFd();
  timeval tv{5, 0};
  setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  return fd;
}

void configure(api::ApiClient& api, const std::string& kernel) {
  EXPECT_EQ(api.call("PUT", "/boot-source", json{{"kernel_image_path", kernel}}).status, 204);
  EXPECT_EQ(api.call("PUT", "/machine-config", json{{"vcpu_count", 1}, {"mem_size_mib", 64}}).status, 204);
}

TEST(VmmApi, ConfigureStartPauseResumeShutdown) {
  if (!have_kvm()) GTEST_SKIP() << "/dev/kvm is not available here";
  TempDir dir;
  VmmProcess vmm(dir.path(), "lifecycle");
  auto& api = vmm.api();
  auto info = api.call("GET", "/");
  ASSERT_EQ(info.status, 200);
  EXPECT_EQ(info.body["id"], "lifecycle");
  EXPECT_EQ(info.body["state"], "Not started");

  configure(api, test_guest("ticker_pvh.elf"));
  auto mc = api.call("GET", "/machine-config");
  EXPECT_EQ(mc.body, (json{{"vcpu_count", 1}, {"mem_size_mib", 64}}));
  UniqueFd console = connect_console(vmm.console_socket());
  ASSERT_TRUE(console.valid());

  ASSERT_EQ(api.call("PUT", "/actions", json{{"action_type", "InstanceStart"}}).status, 204);
  EXPECT_EQ(api.call("GET", "/").body["state"], "Running");
  ASSERT_TRUE(wait_until([&] { return vmm.log().size() >= 3; }, 5s)) << "no guest output in the log";
  char buf[64];
  ssize_t n = read(console.get(), buf, sizeof buf);
  ASSERT_GT(n, 0) << "no guest output on the console socket";
  EXPECT_EQ(buf[0], '.');

  ASSERT_EQ(api.call("PATCH", "/vm", json{{"state", "Paused"}}).status, 204);
  EXPECT_EQ(api.call("GET", "/").body["state"], "Paused");
  std::this_thread::sleep_for(100ms);  // output already on its way to the log lands
  size_t at_pause = vmm.log().size();
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(vmm.log().size(), at_pause) << "the guest ran while paused";

  ASSERT_EQ(api.call("PATCH", "/vm", json{{"state", "Resumed"}}).status, 204);
  EXPECT_EQ(api.call("GET", "/").body["state"], "Running");
  EXPECT_TRUE(wait_until([&] { return vmm.log().size() >= at_pause + 3; }, 5s)) << "the guest did not resume";

  auto metrics = api.call("GET", "/metrics");
  ASSERT_EQ(metrics.status, 200);
  EXPECT_GE(metrics.body["console_bytes_out"].get<uint64_t>(), at_pause);
  EXPECT_EQ(metrics.body["console_clients"], 1);
  EXPECT_TRUE(metrics.body["guest_uptime_s"].is_number());

  EXPECT_EQ(api.call("PUT", "/shutdown").status, 204);
  EXPECT_EQ(vmm.wait_exit(10s), 0);
  EXPECT_FALSE(std::filesystem::exists(dir.path() + "/api.sock")) << "the API socket was left behind";
  // The console client sees the end of the stream.
  while ((n = read(console.get(), buf, sizeof buf)) > 0) {
  }
  EXPECT_EQ(n, 0);
}

TEST(VmmApi, GuestThatEndsEndsItsVmm) {
  if (!have_kvm()) GTEST_SKIP() << "/dev/kvm is not available here";
  TempDir dir;
  VmmProcess vmm(dir.path());
  configure(vmm.api(), test_guest("hello_pvh.elf"));
  ASSERT_EQ(vmm.api().call("PUT", "/actions", json{{"action_type", "InstanceStart"}}).status, 204);
  int status = vmm.wait_exit(10s);
  EXPECT_NE(status, -1) << "the VMM did not exit after its guest did";
  EXPECT_NE(status, 125);
  EXPECT_NE(vmm.log().find("hello from a PVH guest"), std::string::npos) << vmm.log();
}

TEST(VmmApi, ConsoleInputReachesTheGuestUart) {
  if (!have_kvm()) GTEST_SKIP() << "/dev/kvm is not available here";
  TempDir dir;
  VmmProcess vmm(dir.path());
  configure(vmm.api(), test_guest("ticker_pvh.elf"));
  ASSERT_EQ(vmm.api().call("PUT", "/actions", json{{"action_type", "InstanceStart"}}).status, 204);
  UniqueFd console = connect_console(vmm.console_socket());
  ASSERT_TRUE(console.valid());
  ASSERT_EQ(write(console.get(), "abc", 3), 3);
  EXPECT_TRUE(wait_until([&] { return vmm.api().call("GET", "/metrics").body["console_bytes_in"] == 3; }, 5s));
  EXPECT_EQ(vmm.api().call("PUT", "/shutdown").status, 204);
  EXPECT_EQ(vmm.wait_exit(10s), 0);
}

TEST(VmmApi, PowerButtonLetsTheGuestShutDown) {
  if (!have_kvm()) GTEST_SKIP() << "/dev/kvm is not available here";
  TempDir dir;
  VmmProcess vmm(dir.path());
  configure(vmm.api(), test_guest("power_button_pvh.elf"));
  ASSERT_EQ(vmm.api().call("PUT", "/actions", json{{"action_type", "InstanceStart"}}).status, 204);
  // The guest is polling PM1_STS once it prints; pressing earlier is fine too.
  ASSERT_TRUE(wait_until([&] { return vmm.log().find('.') != std::string::npos; }, 10s)) << vmm.log();
  EXPECT_EQ(vmm.log().find("power button"), std::string::npos);
  ASSERT_EQ(vmm.api().call("PUT", "/actions", json{{"action_type", "SendPowerButton"}}).status, 204);
  // The guest powers off by itself (S5), which ends the VMM.
  EXPECT_EQ(vmm.wait_exit(10s), 0);
  EXPECT_NE(vmm.log().find("power button"), std::string::npos) << vmm.log();
}

TEST(VmmApi, ShutdownWhilePaused) {
  if (!have_kvm()) GTEST_SKIP() << "/dev/kvm is not available here";
  TempDir dir;
  VmmProcess vmm(dir.path());
  configure(vmm.api(), test_guest("ticker_pvh.elf"));
  ASSERT_EQ(vmm.api().call("PUT", "/actions", json{{"action_type", "InstanceStart"}}).status, 204);
  ASSERT_EQ(vmm.api().call("PATCH", "/vm", json{{"state", "Paused"}}).status, 204);
  EXPECT_EQ(vmm.api().call("PUT", "/shutdown").status, 204);
  EXPECT_EQ(vmm.wait_exit(10s), 0);
}

TEST(VmmApi, SigtermEndsTheVmm) {
  if (!have_kvm()) GTEST_SKIP() << "/dev/kvm is not available here";
  TempDir dir;
  VmmProcess vmm(dir.path());
  configure(vmm.api(), test_guest("ticker_pvh.elf"));
  ASSERT_EQ(vmm.api().call("PUT", "/actions", json{{"action_type", "InstanceStart"}}).status, 204);
  ASSERT_EQ(kill(vmm.pid(), SIGTERM), 0);
  EXPECT_EQ(vmm.wait_exit(10s), 0);
}

TEST(VmmApi, Sigusr2LogsTheDeviceStateAndTheVmRunsOn) {
  if (!have_kvm()) GTEST_SKIP() << "/dev/kvm is not available here";
  TempDir dir;
  VmmProcess vmm(dir.path(), "test-vm", true);
  configure(vmm.api(), test_guest("ticker_pvh.elf"));
  ASSERT_EQ(vmm.api().call("PUT", "/actions", json{{"action_type", "InstanceStart"}}).status, 204);
  ASSERT_TRUE(wait_until([&] { return vmm.log().find('.') != std::string::npos; }, 10s)) << vmm.log();
  ASSERT_EQ(kill(vmm.pid(), SIGUSR2), 0);
  // virtio-rng is there by default; this guest never sets it up.
  EXPECT_TRUE(wait_until([&] { return vmm.err().find("virtio-rng: queue 0: not ready") != std::string::npos; }, 10s))
      << vmm.err();
  EXPECT_EQ(vmm.api().call("GET", "/").body["state"], "Running");
  ASSERT_EQ(kill(vmm.pid(), SIGTERM), 0);
  EXPECT_EQ(vmm.wait_exit(10s), 0);
}

}  // namespace
}  // namespace insula::testing
