// The API's refusals: bad JSON, unknown fields, wrong types, out-of-range
// values, unknown paths and methods, and operations in the wrong state —
// each with its status and a fault_message, and none changes the VM.
#include <gtest/gtest.h>

#include <fstream>

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

}  // namespace
}  // namespace insula::testing
