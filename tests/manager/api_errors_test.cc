// The API's refusals: bad JSON, unknown fields, wrong types, out-of-range
// values, unknown paths and methods, and operations in the wrong state —
// each with its status and a fault_message, and none changes the VM.
#include <gtest/gtest.h>

#include <sys/socket.h>
#include <sys/stat.h>
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
  expect_fault(api.call("GET", "/nosuch"), 404, "no such resource");
  expect_fault(api.call("PUT", "/drives/"), 404, "no such resource");
  expect_fault(api.call("PUT", "/drives/a/b"), 404, "no such resource");
  expect_fault(api.call("GET", "/drives/rootfs"), 405, "does not accept GET");
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

// The device endpoints: good requests configure the VM (GET /vm/config shows
// exactly the bodies), bad ones are refused with 400 and change nothing.
TEST(VmmApiErrors, DeviceRequestsBeforeStart) {
  TempDir dir;
  VmmProcess vmm(dir.path());
  auto& api = vmm.api();
  std::string disk = dir.path() + "/disk.img", ro_disk = dir.path() + "/ro.img";
  { std::ofstream(disk) << std::string(4096, '\0'); }
  { std::ofstream(ro_disk) << std::string(4096, '\0'); }
  ::chmod(ro_disk.c_str(), 0400);
  json root{{"drive_id", "rootfs"}, {"path_on_host", disk}, {"is_root_device", true}, {"is_read_only", false},
            {"rate_limiter", {{"bandwidth", {{"size", 1048576}, {"one_time_burst", 0}, {"refill_time", 100}}}}}};
  json data{{"drive_id", "data"}, {"path_on_host", ro_disk}, {"is_root_device", false}, {"is_read_only", true},
            {"cache_type", "Direct"}, {"io_engine", "Sync"}, {"serial", "SN1"}};
  ASSERT_EQ(api.call("PUT", "/drives/data", data).status, 204);
  ASSERT_EQ(api.call("PUT", "/drives/rootfs", root).status, 204);
  json eth0{{"iface_id", "eth0"}, {"host_dev_name", "tapx0"}, {"guest_mac", "52:54:00:aa:bb:cc"}};
  ASSERT_EQ(api.call("PUT", "/network-interfaces/eth0", eth0).status, 204);
  json vsock{{"guest_cid", 7}, {"uds_path", dir.path() + "/v.sock"}};
  ASSERT_EQ(api.call("PUT", "/vsock", vsock).status, 204);
  json balloon{{"amount_mib", 16}, {"deflate_on_oom", true}, {"stats_polling_interval_s", 2}};
  ASSERT_EQ(api.call("PUT", "/balloon", balloon).status, 204);
  ASSERT_EQ(api.call("PATCH", "/balloon", json{{"amount_mib", 32}}).status, 204);
  balloon["amount_mib"] = 32;
  EXPECT_EQ(api.call("GET", "/balloon").body, balloon);
  const json before = api.call("GET", "/vm/config").body;
  ASSERT_EQ(before["drives"].size(), 2u);
  EXPECT_EQ(before["drives"][0]["drive_id"], "rootfs");  // the root device goes first
  EXPECT_EQ(before["drives"][1]["cache_type"], "Direct");
  EXPECT_EQ(before["drives"][1]["io_engine"], "Sync");
  EXPECT_EQ(before["drives"][0]["io_engine"], "Async");
  EXPECT_EQ(before["drives"][1]["serial"], "SN1");
  EXPECT_EQ(before["drives"][0]["rate_limiter"], root["rate_limiter"]);
  EXPECT_EQ(before["network-interfaces"][0], eth0);
  EXPECT_EQ(before["vsock"], vsock);
  EXPECT_EQ(before["balloon"], balloon);

  // Refusals.
  json d = root;
  d["drive_id"] = "other";
  expect_fault(api.call("PUT", "/drives/rootfs", d), 400, "differs from the id in the path");
  expect_fault(api.call("PUT", "/drives/other", d), 400, "already the root device");
  expect_fault(api.call("PUT", "/drives/bad$id", d), 400, "invalid drive_id");
  d["is_root_device"] = false;
  d["path_on_host"] = dir.path() + "/missing";
  expect_fault(api.call("PUT", "/drives/other", d), 400, "is not a readable");
  d["path_on_host"] = ro_disk;
  if (::geteuid() != 0) expect_fault(api.call("PUT", "/drives/other", d), 400, "readable and writable");
  d["path_on_host"] = disk;
  // Hostile rate limiters: negative, too big, not integers, unknown fields.
  auto limited = [&](json rl, const char* why) {
    d["rate_limiter"] = std::move(rl);
    expect_fault(api.call("PUT", "/drives/other", d), 400, why);
  };
  limited(json{{"bandwidth", {{"size", -1}, {"refill_time", 100}}}}, "\"size\" must be between");
  limited(json{{"bandwidth", {{"size", 1}, {"refill_time", 86400001}}}}, "\"refill_time\" must be between");
  limited(json{{"ops", {{"size", 18446744073709551615ull}, {"refill_time", 1}}}}, "\"size\" must be between");
  limited(json{{"ops", {{"size", 1.5}, {"refill_time", 1}}}}, "must be an integer");
  limited(json{{"ops", {{"size", 10}}}}, "needs \"size\" and \"refill_time\"");
  limited(json{{"ops", {{"size", 1}, {"refill_time", 1}, {"rate", 1}}}}, "unknown field \"ops.rate\"");
  limited(json{{"iops", json::object()}}, "unknown field \"rate_limiter.iops\"");
  limited("fast", "\"rate_limiter\" must be an object");
  d.erase("rate_limiter");
  // PATCH is for a started VM.
  expect_fault(api.call("PATCH", "/drives/rootfs", json{{"drive_id", "rootfs"}, {"path_on_host", disk}}), 409,
               "before InstanceStart use PUT");
  expect_fault(api.call("PATCH", "/drives/nope", json{{"drive_id", "nope"}}), 400, "there is no drive");
  expect_fault(api.call("PATCH", "/network-interfaces/eth0",
                        json{{"iface_id", "eth0"}, {"tx_rate_limiter", {{"ops", {{"size", 1}, {"refill_time", 1}}}}}}),
               409, "before InstanceStart");
  expect_fault(api.call("PATCH", "/network-interfaces/eth0", json{{"iface_id", "eth0"}, {"host_dev_name", "t"}}), 400,
               "unknown field \"host_dev_name\"");
  d["cache_type"] = "Sometimes";
  expect_fault(api.call("PUT", "/drives/other", d), 400, "unknown cache_type");
  d.erase("cache_type");
  d["io_engine"] = "Turbo";
  expect_fault(api.call("PUT", "/drives/other", d), 400, "unknown io_engine");
  d.erase("io_engine");
  d["is_read_only"] = "yes";
  expect_fault(api.call("PUT", "/drives/other", d), 400, "true or false");
  d.erase("is_root_device");
  d["is_read_only"] = true;
  expect_fault(api.call("PUT", "/drives/other", d), 400, "is_root_device");
  expect_fault(api.call_raw("PUT", "/drives/other", "{\"drive_id\": "), 400, "not valid JSON");
  json n = eth0;
  n["iface_id"] = "eth1";
  expect_fault(api.call("PUT", "/network-interfaces/eth1", n), 400, "already uses tap");
  n["host_dev_name"] = "tapx1";
  expect_fault(api.call("PUT", "/network-interfaces/eth1", n), 400, "already has MAC");
  n["guest_mac"] = "01:00:00:00:00:01";
  expect_fault(api.call("PUT", "/network-interfaces/eth1", n), 400, "multicast");
  n["guest_mac"] = "zz";
  expect_fault(api.call("PUT", "/network-interfaces/eth1", n), 400, "invalid MAC");
  n["guest_mac"] = "52:54:00:aa:bb:cd";
  n["host_dev_name"] = std::string(40, 't');
  expect_fault(api.call("PUT", "/network-interfaces/eth1", n), 400, "not a valid interface name");
  expect_fault(api.call("PUT", "/vsock", json{{"guest_cid", 2}, {"uds_path", "/tmp/x"}}), 400, "between 3 and");
  expect_fault(api.call("PUT", "/vsock", json{{"guest_cid", 9}, {"uds_path", std::string(200, 'x')}}), 400, "bytes long");
  expect_fault(api.call("PUT", "/vsock", json{{"guest_cid", 9}}), 400, "uds_path");
  expect_fault(api.call("PUT", "/balloon", json{{"amount_mib", 16}}), 400, "required");
  expect_fault(api.call("PUT", "/balloon", json{{"amount_mib", 100000}, {"deflate_on_oom", true}}), 400,
               "more than the guest's memory");
  expect_fault(api.call("PUT", "/balloon", json{{"amount_mib", -1}, {"deflate_on_oom", true}}), 400, "between");
  expect_fault(api.call("PATCH", "/balloon", json{{"amount_mib", 300}}), 400, "more than the guest's memory");
  expect_fault(api.call("PATCH", "/balloon", json{{"target", 3}}), 400, "unknown field");
  expect_fault(api.call("PATCH", "/balloon/statistics", json{{"stats_polling_interval_s", 100000}}), 400, "between");
  expect_fault(api.call("GET", "/balloon/statistics"), 409, "not started");
  EXPECT_EQ(api.call("GET", "/vm/config").body, before);
  // Memory shrunk below the balloon after it was set: InstanceStart refuses.
  ASSERT_EQ(api.call("PUT", "/boot-source", json{{"kernel_image_path", test_guest("ticker_pvh.elf")}}).status, 204);
  ASSERT_EQ(api.call("PATCH", "/machine-config", json{{"mem_size_mib", 16}}).status, 204);
  expect_fault(api.call("PUT", "/actions", json{{"action_type", "InstanceStart"}}), 400, "larger than the guest's memory");
  EXPECT_EQ(api.call("GET", "/").body["state"], "Not started");

  // A second VMM without a balloon: the balloon endpoints say so.
  TempDir dir2;
  VmmProcess bare(dir2.path());
  expect_fault(bare.api().call("GET", "/balloon"), 400, "no balloon");
  expect_fault(bare.api().call("PATCH", "/balloon", json{{"amount_mib", 1}}), 400, "no balloon");
  expect_fault(bare.api().call("GET", "/balloon/statistics"), 400, "no balloon");
  EXPECT_EQ(bare.api().call("PUT", "/shutdown").status, 204);
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
  // The ticker guest never reads its keyboard: the first Ctrl-Alt-Del fits
  // the controller's buffer, the second does not.
  EXPECT_EQ(api.call("PUT", "/actions", json{{"action_type", "SendCtrlAltDel"}}).status, 204);
  expect_fault(api.call("PUT", "/actions", json{{"action_type", "SendCtrlAltDel"}}), 409, "not reading its keyboard");
  expect_fault(api.call("PUT", "/drives/d", json{{"drive_id", "d"}, {"path_on_host", "/dev/null"}, {"is_root_device", false}}),
               409, "once the VM has started");
  expect_fault(api.call("PUT", "/vsock", json{{"guest_cid", 3}, {"uds_path", "/tmp/x"}}), 409, "once the VM has started");
  expect_fault(api.call("PUT", "/balloon", json{{"amount_mib", 0}, {"deflate_on_oom", true}}), 409, "once the VM has started");
  expect_fault(api.call("PUT", "/network-interfaces/e", json{{"iface_id", "e"}, {"host_dev_name", "t"}}), 409, "once the VM has started");
  // Pausing twice and resuming twice are fine (as in Firecracker).
  EXPECT_EQ(api.call("PATCH", "/vm", json{{"state", "Paused"}}).status, 204);
  EXPECT_EQ(api.call("PATCH", "/vm", json{{"state", "Paused"}}).status, 204);
  expect_fault(api.call("PUT", "/actions", json{{"action_type", "SendPowerButton"}}), 409, "paused");
  expect_fault(api.call("PUT", "/actions", json{{"action_type", "SendCtrlAltDel"}}), 409, "paused");
  EXPECT_EQ(api.call("PATCH", "/vm", json{{"state", "Resumed"}}).status, 204);
  EXPECT_EQ(api.call("PATCH", "/vm", json{{"state", "Resumed"}}).status, 204);
  EXPECT_EQ(api.call("GET", "/").body["state"], "Running");
  EXPECT_EQ(api.call("PUT", "/shutdown").status, 204);
  EXPECT_EQ(vmm.wait_exit(10s), 0);
}

// PATCH /drives on a running guest: a new backing file, rate limiters set
// and removed; a file that cannot be opened changes nothing.
TEST(VmmApiErrors, PatchDriveOfARunningVm) {
  if (!have_kvm()) GTEST_SKIP() << "/dev/kvm is not available here";
  TempDir dir;
  VmmProcess vmm(dir.path());
  auto& api = vmm.api();
  std::string a = dir.path() + "/a.img", b = dir.path() + "/b.img";
  { std::ofstream(a) << std::string(4096, '\0'); }
  { std::ofstream(b) << std::string(8192, '\0'); }
  ASSERT_EQ(api.call("PUT", "/boot-source", json{{"kernel_image_path", test_guest("ticker_pvh.elf")}}).status, 204);
  ASSERT_EQ(api.call("PATCH", "/machine-config", json{{"mem_size_mib", 64}}).status, 204);
  ASSERT_EQ(api.call("PUT", "/drives/d", json{{"drive_id", "d"}, {"path_on_host", a}, {"is_root_device", false}}).status, 204);
  ASSERT_EQ(api.call("PUT", "/actions", json{{"action_type", "InstanceStart"}}).status, 204);
  auto drive = [&] { return api.call("GET", "/vm/config").body["drives"][0]; };
  EXPECT_EQ(api.call("PATCH", "/drives/d", json{{"drive_id", "d"}, {"path_on_host", b}}).status, 204);
  EXPECT_EQ(drive()["path_on_host"], b);
  expect_fault(api.call("PATCH", "/drives/d", json{{"drive_id", "d"}, {"path_on_host", dir.path() + "/missing"}}), 400,
               "drive d");
  EXPECT_EQ(drive()["path_on_host"], b) << "a refused PATCH changed the drive";
  json rl{{"ops", {{"size", 10}, {"one_time_burst", 5}, {"refill_time", 1000}}}};
  EXPECT_EQ(api.call("PATCH", "/drives/d", json{{"drive_id", "d"}, {"rate_limiter", rl}}).status, 204);
  EXPECT_EQ(drive()["rate_limiter"], rl);
  EXPECT_EQ(api.call("PATCH", "/drives/d", json{{"drive_id", "d"}, {"rate_limiter", json::object()}}).status, 204);
  EXPECT_FALSE(drive().contains("rate_limiter"));
  expect_fault(api.call("PATCH", "/drives/d", json{{"drive_id", "d"}, {"is_read_only", true}}), 400,
               "unknown field \"is_read_only\"");
  expect_fault(api.call("PATCH", "/drives/e", json{{"drive_id", "e"}}), 400, "there is no drive");
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
