// `insula vm snapshot/restore/snapshots/snapshot-rm` end to end with a
// temporary state directory and the guest kit's counter: a restored VM
// continues counting from the snapshot, not from 1; a damaged snapshot is
// refused before the running VM is touched.
#include <gtest/gtest.h>

#include <filesystem>
#include <thread>

#include "run_cli.h"
#include "vmm_fixture.h"

namespace insula::testing {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
namespace fs = std::filesystem;

class VmSnapshotCli : public ::testing::Test {
 protected:
  Result vm(std::vector<std::string> args) { return run_vm_cli(dir_.path(), args); }
  std::vector<uint64_t> counts(const std::string& name) {
    std::string log = vm({"logs", name}).out;
    return insula::testing::printed_counts(log, "counter");
  }
  std::string state(const std::string& name) {
    return json::parse(vm({"info", name, "--output", "json"}).out)["state"].get<std::string>();
  }
  TempDir dir_;
};

TEST_F(VmSnapshotCli, SnapshotRestoreListRemove) {
  if (!have_kvm()) GTEST_SKIP() << "/dev/kvm is not available here";
  auto r = vm({"create", "c", "--kernel", GUEST_KIT_DIR "/counter-pvh.elf", "--cmdline", "period_ms=20", "--memory", "32M"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(vm({"snapshot", "c", "s1"}).err.find("not running"), std::string::npos);
  ASSERT_EQ(vm({"start", "c"}).status, 0);
  ASSERT_TRUE(wait_until([&] { return counts("c").size() >= 3; }, 10s)) << vm({"logs", "c"}).out;

  // Snapshot and go on running.
  r = vm({"snapshot", "c", "s1"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(state("c"), "running");
  EXPECT_NE(vm({"snapshot", "c", "s1"}).err.find("already has a snapshot named s1"), std::string::npos);
  EXPECT_NE(vm({"snapshot", "c", "../x"}).err.find("invalid snapshot name"), std::string::npos);

  // Snapshot and stay paused: the last count in the log is the snapshot's.
  r = vm({"snapshot", "c", "s2", "--keep-paused"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(state("c"), "paused");
  std::this_thread::sleep_for(200ms);
  uint64_t at_s2 = counts("c").back();

  auto list = json::parse(vm({"snapshots", "c", "--output", "json"}).out);
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0]["name"], "s1");
  EXPECT_EQ(list[1]["memory_mib"], 32);
  EXPECT_NE(vm({"snapshots", "c"}).out.find("s2"), std::string::npos);
  for (const auto& s : list) EXPECT_FALSE(fs::exists(s["state_path"].get<std::string>() + ".tmp"));
  EXPECT_FALSE(fs::exists(dir_.path() + "/vms/c/snapshots/s2.partial"));

  // Restore s2 (stops the paused VM): the count continues from at_s2.
  size_t before = counts("c").size();
  r = vm({"restore", "c", "s2"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(state("c"), "running");
  ASSERT_TRUE(wait_until([&] { return counts("c").size() >= before + 3; }, 10s)) << vm({"logs", "c"}).out;
  auto after = counts("c");
  EXPECT_EQ(after[before], at_s2 + 1) << "the restored guest did not continue from the snapshot";

  // A damaged snapshot is refused and the running VM is left alone.
  std::string s1_state = list[0]["state_path"];
  fs::resize_file(s1_state, fs::file_size(s1_state) / 2);
  r = vm({"restore", "c", "s1"});
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("truncated"), std::string::npos) << r.err;
  EXPECT_EQ(state("c"), "running");
  size_t now = counts("c").size();
  EXPECT_TRUE(wait_until([&] { return counts("c").size() > now; }, 5s)) << "the VM stopped counting";

  ASSERT_EQ(vm({"snapshot-rm", "c", "s1"}).status, 0);
  EXPECT_FALSE(fs::exists(dir_.path() + "/vms/c/snapshots/s1"));
  EXPECT_EQ(json::parse(vm({"snapshots", "c", "--output", "json"}).out).size(), 1u);
  EXPECT_NE(vm({"snapshot-rm", "c", "s1"}).err.find("no snapshot named s1"), std::string::npos);
  EXPECT_NE(vm({"restore", "c", "s1"}).err.find("no snapshot named s1"), std::string::npos);
  ASSERT_EQ(vm({"rm", "c", "--force"}).status, 0);
  EXPECT_NE(vm({"snapshots", "c"}).err.find("no VM named c"), std::string::npos);
}

}  // namespace
}  // namespace insula::testing
