// The API's refusals: bad JSON, unknown fields, wrong types, out-of-range
// values, unknown paths and methods, and operations in the wrong state —
// each with its status and a fault_message, and none changes the VM.
#include <gtest/gtest.h>

#include <sys/socket.h>
#include <sys/un.h>

#include <cstring>
#include <fstream>

#include "base/fd.h"
#include "run_cli.h"
#include "vmm_fixture.h"

namespace insula::testing {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

void expect_fault(const api::ApiReply& r, int status, const std::string& words) {
  EXPECT_EQ(r.status, status) << r.raw;
  ASSERT_TRUE(r.body.is_object() && r.body.contains("fault_message")) << r.raw;
  EXPECT_NE(r.body["fault_message"].get<std::string>().find(words), std::string::npos) << r.raw;
  EXPECT_EQ(r.content_type, "application/json");
}

TEST(VmmApiErrors, BadRequestsBeforeStart) {
  TempDir dir;
  VmmProcess vmm(dir.path());
  auto& api = vmm.api();
  expect_fault(api.call_raw("PUT", "/machine-config", "{\"vcpu_count\": 1,"), 400, "not valid JSON");
  expect_fault(api.call_raw("PUT", "/machine-config", "[1, 2]"), 400, "JSON object");
  expect_fault(api.call("PUT", "/machine-config", json{{"vcpu_count", 1}, {"mem_size_mib", 64}, {"smt", true}}), 400,
               "unknown field \"smt\"");
  expect_fault(api.call("PUT", "/machine-config", json{{"vcpu_count", 0}, {"mem_size_mib", 64}}), 400, "between 1 and 32");
  expect_fault(api.call("PUT", "/machine-config", json{{"vcpu_count", -1}, {"mem_size_mib", 64}}), 400, "between");
  expect_fault(api.call("PUT", "/machine-config", json{{"vcpu_count", 1}, {"mem_size_mib", "64"}}), 400, "integer");
  expect_fault(api.call("PUT", "/machine-config", json{{"vcpu_count", 2}}), 400, "required");
  expect_fault(api.call("PUT", "/boot-source", json{{"kernel_image_path", dir.path() + "/missing"}}), 400, "not a readable");
  expect_fault(api.call("PUT", "/boot-source", json{{"boot_args", "x"}}), 400, "kernel_image_path");
  expect_fault(api.call("PUT", "/actions", json{{"action_type", "Reboot"}}), 400, "unknown action_type");
  expect_fault(api.call("PUT", "/actions", json{{"action_type", "InstanceStart"}}), 400, "boot source");
  expect_fault(api.call("PATCH", "/vm", json{{"state", "Sleeping"}}), 400, "unknown state");
  expect_fault(api.call("GET", "/boot-source"), 404, "no boot source");
  // Wrong state: nothing is running yet.
  expect_fault(api.call("PATCH", "/vm", json{{"state", "Paused"}}), 409, "not started");
  expect_fault(api.call("PATCH", "/vm", json{{"state", "Resumed"}}), 409, "not started");
  expect_fault(api.call("PUT", "/actions", json{{"action_type", "SendCtrlAltDel"}}), 409, "not started");
  expect_fault(api.call("PUT", "/actions", json{{"action_type", "SendPowerButton"}}), 409, "not started");
  // Paths and methods.
  expect_fault(api.call("GET", "/drives/rootfs"), 404, "no such resource");
  auto r = api.call("DELETE", "/machine-config");
  expect_fault(r, 405, "does not accept DELETE");
  EXPECT_EQ(r.allow, "GET, PATCH, PUT");
  // An oversized body is refused, not buffered.
  expect_fault(api.call_raw("PUT", "/boot-source", std::string(100000, ' ')), 413, "malformed");

  // None of that changed the configuration.
  EXPECT_EQ(api.call("GET", "/machine-config").body, (json{{"vcpu_count", 1}, {"mem_size_mib", 256}}));
  EXPECT_EQ(api.call("GET", "/").body["state"], "Not started");
  EXPECT_EQ(api.call("PUT", "/shutdown").status, 204);
  EXPECT_EQ(vmm.wait_exit(10s), 0);
}

TEST(VmmApiErrors, WrongStateAfterStart) {
  if (!have_kvm()) GTEST_SKIP() << "/dev/kvm is not available here";
  TempDir dir;
  VmmProcess vmm(dir.path());
  auto& api = vmm.api();
  ASSERT_EQ(api.call("PUT", "/boot-source", json{{"kernel_image_path", test_guest("ticker_pvh.elf")}}).status, 204);
  ASSERT_EQ(api.call("PATCH", "/machine-config", json{{"mem_size_mib", 64}}).status, 204);
  ASSERT_EQ(api.call("PUT", "/actions", json{{"action_type", "InstanceStart"}}).status, 204);
  expect_fault(api.call("PUT", "/actions", json{{"action_type", "InstanceStart"}}), 409, "already been started");
  expect_fault(api.call("PUT", "/machine-config", json{{"vcpu_count", 2}, {"mem_size_mib", 64}}), 409, "once the VM has started");
  expect_fault(api.call("PUT", "/boot-source", json{{"kernel_image_path", test_guest("ticker_pvh.elf")}}), 409,
               "once the VM has started");
  expect_fault(api.call("PUT", "/actions", json{{"action_type", "SendCtrlAltDel"}}), 400, "not supported");
  // Pausing twice and resuming twice are fine (as in Firecracker).
  EXPECT_EQ(api.call("PATCH", "/vm", json{{"state", "Paused"}}).status, 204);
  EXPECT_EQ(api.call("PATCH", "/vm", json{{"state", "Paused"}}).status, 204);
  expect_fault(api.call("PUT", "/actions", json{{"action_type", "SendPowerButton"}}), 409, "paused");
  EXPECT_EQ(api.call("PATCH", "/vm", json{{"state", "Resumed"}}).status, 204);
  EXPECT_EQ(api.call("PATCH", "/vm", json{{"state", "Resumed"}}).status, 204);
  EXPECT_EQ(api.call("GET", "/").body["state"], "Running");
  EXPECT_EQ(api.call("PUT", "/shutdown").status, 204);
  EXPECT_EQ(vmm.wait_exit(10s), 0);
}

TEST(VmmApiErrors, KernelThatCannotLoadIsA400AndTheVmmStays) {
  TempDir dir;
  VmmProcess vmm(dir.path());
  std::string junk = dir.path() + "/junk";
  { std::ofstream(junk) << "not a kernel"; }
  ASSERT_EQ(vmm.api().call("PUT", "/boot-source", json{{"kernel_image_path", junk}}).status, 204);
  auto r = vmm.api().call("PUT", "/actions", json{{"action_type", "InstanceStart"}});
  EXPECT_EQ(r.status, 400) << r.raw;
  EXPECT_EQ(vmm.api().call("GET", "/").body["state"], "Not started");
}

std::string raw_exchange(const std::string& socket_path, const std::string& request) {
  UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::strncpy(a.sun_path, socket_path.c_str(), sizeof a.sun_path - 1);
  if (connect(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return "connect failed";
  timeval tv{5, 0};
  setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  if (write(fd.get(), request.data(), request.size()) != static_cast<ssize_t>(request.size())) return "write failed";
  std::string reply;
  char buf[4096];
  ssize_t n;
  while ((n = read(fd.get(), buf, sizeof buf)) > 0) reply.append(buf, n);
  return reply;
}

// Not HTTP at all, oversized headers, a client that never finishes its
// request: each is answered or ignored, and the VMM keeps serving others.
TEST(VmmApiErrors, HostileConnectionsDoNotHurtTheServer) {
  TempDir dir;
  VmmProcess vmm(dir.path());
  std::string sock = dir.path() + "/api.sock";
  EXPECT_EQ(raw_exchange(sock, "GARBAGE\r\n\r\n").rfind("HTTP/1.1 400", 0), 0u);
  EXPECT_EQ(raw_exchange(sock, "GET / HTTP/1.1\r\nX: " + std::string(20000, 'a') + "\r\n\r\n").rfind("HTTP/1.1 4", 0), 0u);
  EXPECT_EQ(raw_exchange(sock, "PUT /vm HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n").rfind("HTTP/1.1 4", 0), 0u);
  // A connection that sent half a request stays open while others are served.
  UniqueFd idle(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::strncpy(a.sun_path, sock.c_str(), sizeof a.sun_path - 1);
  ASSERT_EQ(connect(idle.get(), reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(write(idle.get(), "GET / HTTP/1.1\r\n", 16), 16);
  auto r = vmm.api().call("GET", "/");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body["state"], "Not started");
  EXPECT_EQ(vmm.api().call("PUT", "/shutdown").status, 204);
  EXPECT_EQ(vmm.wait_exit(10s), 0);
}

}  // namespace
}  // namespace insula::testing
