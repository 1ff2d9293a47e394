// PUT /snapshot/create and /snapshot/load end to end on /dev/kvm: the guest
// kit's counter is snapshotted in one VMM process and loaded into a fresh
// one, where it continues counting from where it was; the endpoints refuse
// what Firecracker's refuse (running VM, load after start, bad files).
#include <gtest/gtest.h>

#include <filesystem>
#include <thread>

#include "run_cli.h"
#include "vmm_fixture.h"

namespace insula::testing {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

std::vector<uint64_t> counts(const std::string& log) {
  return insula::testing::printed_counts(log, "counter");
}

TEST(VmmApiSnapshot, CreateThenLoadInAFreshVmmContinuesTheGuest) {
  if (!have_kvm()) GTEST_SKIP() << "/dev/kvm is not available here";
  TempDir dir;
  std::string snap = dir.path() + "/vm.snap", mem = dir.path() + "/vm.mem";
  uint64_t last = 0;
  std::string log_at_snapshot;  // the first VMM's console log when it was snapshotted
  std::filesystem::create_directories(dir.path() + "/a");
  std::filesystem::create_directories(dir.path() + "/b");
  {
    VmmProcess vmm(dir.path() + "/a", "snap-a");
    auto& api = vmm.api();
    EXPECT_EQ(api.call("PUT", "/snapshot/create", json{{"snapshot_path", snap}, {"mem_file_path", mem}}).status, 409)
        << "a VM that was never started was snapshotted";
    EXPECT_EQ(api.call("PUT", "/snapshot/create", json{{"snapshot_type", "Disk"}, {"disk_snapshot_name", "d"}}).status,
              409);
    EXPECT_EQ(api.call("PUT", "/snapshot/delete", json{{"disk_snapshot_name", "d"}}).status, 409);
    ASSERT_EQ(api.call("PUT", "/boot-source",
                       json{{"kernel_image_path", GUEST_KIT_DIR "/counter-pvh.elf"}, {"boot_args", "period_ms=20"}})
                  .status,
              204);
    ASSERT_EQ(api.call("PUT", "/machine-config", json{{"vcpu_count", 1}, {"mem_size_mib", 32}}).status, 204);
    ASSERT_EQ(api.call("PUT", "/actions", json{{"action_type", "InstanceStart"}}).status, 204);
    ASSERT_TRUE(wait_until([&] { return counts(vmm.log()).size() >= 3; }, 10s)) << vmm.log();
    auto running = api.call("PUT", "/snapshot/create", json{{"snapshot_path", snap}, {"mem_file_path", mem}});
    EXPECT_EQ(running.status, 409) << "a running VM was snapshotted";
    EXPECT_EQ(api.call("PUT", "/snapshot/create",
                       json{{"snapshot_type", "Diff"}, {"snapshot_path", snap}, {"mem_file_path", mem}})
                  .status,
              400);
    // insula's disk snapshots: bodies checked first, then a VM without disks has nothing to snapshot.
    for (const auto& body : {json{{"snapshot_type", "Disk"}},
                             json{{"snapshot_type", "Disk"}, {"disk_snapshot_name", "../x"}},
                             json{{"snapshot_type", "Disk"}, {"disk_snapshot_name", "d"}, {"snapshot_path", snap}},
                             json{{"snapshot_type", "Disk"}, {"disk_snapshot_name", "d"}}})
      EXPECT_EQ(api.call("PUT", "/snapshot/create", body).status, 400) << body;
    EXPECT_NE(api.call("PUT", "/snapshot/create", json{{"snapshot_type", "Disk"}, {"disk_snapshot_name", "d"}})
                  .message()
                  .find("no writable disks"),
              std::string::npos);
    EXPECT_EQ(api.call("PUT", "/snapshot/delete", json{{"disk_snapshot_name", "d"}}).status, 400);
    EXPECT_EQ(api.call("PUT", "/snapshot/delete", json{{"disk_snapshot_name", "d"}, {"x", 1}}).status, 400);
    ASSERT_EQ(api.call("PATCH", "/vm", json{{"state", "Paused"}}).status, 204);
    auto created = api.call("PUT", "/snapshot/create",
                            json{{"snapshot_type", "Full"}, {"snapshot_path", snap}, {"mem_file_path", mem}});
    ASSERT_EQ(created.status, 204) << created.raw;
    log_at_snapshot = insula::testing::settled([&] { return vmm.log(); });
    last = counts(log_at_snapshot).back();
    EXPECT_EQ(api.call("PUT", "/shutdown").status, 204);
    EXPECT_EQ(vmm.wait_exit(10s), 0);
  }
  ASSERT_TRUE(std::filesystem::exists(snap));
  EXPECT_EQ(std::filesystem::file_size(mem), 32u << 20);

  VmmProcess vmm(dir.path() + "/b", "snap-b");
  auto& api = vmm.api();
  auto missing = api.call("PUT", "/snapshot/load",
                          json{{"snapshot_path", snap + ".nope"}, {"mem_backend", {{"backend_type", "File"}, {"backend_path", mem}}}});
  EXPECT_EQ(missing.status, 400);
  EXPECT_EQ(api.call("GET", "/").body["state"], "Not started") << "a failed load changed the VMM";
  EXPECT_EQ(api.call("PUT", "/snapshot/load",
                     json{{"snapshot_path", snap}, {"mem_backend", {{"backend_type", "Uffd"}, {"backend_path", mem}}}})
                .status,
            400);
  auto loaded = api.call("PUT", "/snapshot/load",
                         json{{"snapshot_path", snap},
                              {"mem_backend", {{"backend_type", "File"}, {"backend_path", mem}}},
                              {"resume_vm", true}});
  ASSERT_EQ(loaded.status, 204) << loaded.raw;
  EXPECT_EQ(api.call("GET", "/").body["state"], "Running");
  EXPECT_EQ(api.call("GET", "/machine-config").body["mem_size_mib"], 32);
  ASSERT_TRUE(wait_until([&] { return counts(vmm.log()).size() >= 3; }, 10s)) << vmm.log();
  EXPECT_EQ(insula::testing::count_after(log_at_snapshot, vmm.log(), "counter", last), last + 1) << vmm.log();
  EXPECT_EQ(api.call("PUT", "/snapshot/load",
                     json{{"snapshot_path", snap}, {"mem_backend", {{"backend_type", "File"}, {"backend_path", mem}}}})
                .status,
            409)
      << "a snapshot was loaded into a running VMM";
  EXPECT_EQ(api.call("PUT", "/shutdown").status, 204);
  EXPECT_EQ(vmm.wait_exit(10s), 0);
}

}  // namespace
}  // namespace insula::testing
