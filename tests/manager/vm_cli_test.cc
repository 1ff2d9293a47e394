// `insula vm` end to end with a temporary state directory: create, start,
// list, pause, resume, stop, rm; reconciliation after a VMM is killed with
// SIGKILL; logs; console attach and Ctrl-] detach.
#include <gtest/gtest.h>
#include <signal.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <thread>

#include "run_cli.h"
#include "vmm_fixture.h"

namespace insula::testing {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

class VmCli : public ::testing::Test {
 protected:
  Result vm(std::vector<std::string> args, const std::string& input = {}) {
    std::vector<std::string> argv{insula_binary(), "vm", "--state-dir", dir_.path()};
    argv.insert(argv.end(), args.begin(), args.end());
    return run(argv, input, 30);
  }
  json info(const std::string& name) {
    auto r = vm({"info", name, "--output", "json"});
    EXPECT_EQ(r.status, 0) << r.err;
    return json::parse(r.out);
  }
  json list() {
    auto r = vm({"list", "--output", "json"});
    EXPECT_EQ(r.status, 0) << r.err;
    return json::parse(r.out);
  }
  void create_ticker(const std::string& name) {
    auto r = vm({"create", name, "--kernel", test_guest("ticker_pvh.elf"), "--cpus", "1", "--memory", "64M"});
    ASSERT_EQ(r.status, 0) << r.err;
  }
  size_t log_size(const std::string& name) { return vm({"logs", name}).out.size(); }
  TempDir dir_;
};

TEST_F(VmCli, StopPressesThePowerButtonFirst) {
  if (!have_kvm()) GTEST_SKIP() << "/dev/kvm is not available here";
  ASSERT_EQ(vm({"create", "pb", "--kernel", test_guest("power_button_pvh.elf"), "--memory", "64M"}).status, 0);
  ASSERT_EQ(vm({"start", "pb"}).status, 0);
  ASSERT_TRUE(wait_until([&] { return log_size("pb") > 0; }, 10s));
  auto r = vm({"stop", "pb", "--timeout", "20"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("the guest powered off"), std::string::npos) << r.out;
  EXPECT_NE(vm({"logs", "pb"}).out.find("power button"), std::string::npos);
  EXPECT_EQ(info("pb")["state"], "stopped");
}

// controller (v1) or "" (cgroup2) -> the process's cgroup path, from /proc/PID/cgroup.
std::map<std::string, std::string> cgroups_of(int64_t pid) {
  std::map<std::string, std::string> out;
  std::ifstream in("/proc/" + std::to_string(pid) + "/cgroup");
  for (std::string line; std::getline(in, line);) {
    auto a = line.find(':'), b = line.find(':', a + 1);
    if (a == std::string::npos || b == std::string::npos) continue;
    std::string controllers = line.substr(a + 1, b - a - 1), path = line.substr(b + 1);
    if (controllers.empty()) out[""] = path;
    for (size_t p = 0; p < controllers.size();) {
      size_t c = controllers.find(',', p);
      out[controllers.substr(p, c == std::string::npos ? std::string::npos : c - p)] = path;
      p = c == std::string::npos ? controllers.size() : c + 1;
    }
  }
  return out;
}

std::string read_trimmed(const std::string& path) {
  std::ifstream in(path);
  std::string s;
  std::getline(in, s);
  return s;
}

TEST_F(VmCli, EachVmmRunsInItsOwnLimitedCgroup) {
  if (!have_kvm()) GTEST_SKIP() << "/dev/kvm is not available here";
  if (geteuid() != 0) GTEST_SKIP() << "cgroups need root";
  ASSERT_EQ(vm({"create", "cg", "--kernel", test_guest("ticker_pvh.elf"), "--cpus", "2", "--memory", "64M"}).status, 0);
  ASSERT_EQ(vm({"start", "cg"}).status, 0);
  int64_t pid = info("cg")["pid"];
  auto cg = cgroups_of(pid);
  std::string dir;
  if (cg.count("memory")) {  // v1 or hybrid: the controllers' own hierarchies
    ASSERT_EQ(cg["memory"].rfind("/insula/cg.", 0), 0u) << cg["memory"];
    dir = "/sys/fs/cgroup/memory" + cg["memory"];
    EXPECT_EQ(read_trimmed(dir + "/memory.limit_in_bytes"), std::to_string((64 + 128) << 20));
    ASSERT_TRUE(cg.count("cpu"));
    EXPECT_EQ(read_trimmed("/sys/fs/cgroup/cpu" + cg["cpu"] + "/cpu.cfs_quota_us"), "200000");
    EXPECT_EQ(read_trimmed("/sys/fs/cgroup/cpu" + cg["cpu"] + "/cpu.cfs_period_us"), "100000");
  } else {
    ASSERT_EQ(cg[""].rfind("/insula/cg.", 0), 0u) << cg[""];
    dir = "/sys/fs/cgroup" + cg[""];
    EXPECT_EQ(read_trimmed(dir + "/memory.max"), std::to_string((64 + 128) << 20));
    EXPECT_EQ(read_trimmed(dir + "/cpu.max"), "200000 100000");
  }
  // Every thread of the VMM (vCPUs, API, console) is in it.
  EXPECT_TRUE(std::filesystem::exists(dir));
  ASSERT_EQ(vm({"stop", "--force", "cg"}).status, 0);
  EXPECT_FALSE(std::filesystem::exists(dir)) << "the cgroup outlived its VM";
}

TEST_F(VmCli, CreateListInfoRmWithoutKvm) {
  auto r = vm({"create", "a", "--kernel", test_guest("ticker_pvh.elf"), "--cpus", "2", "--memory", "128M",
               "--cmdline", "console=ttyS0"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(vm({"create", "a", "--kernel", test_guest("ticker_pvh.elf")}).err.find("already exists"), std::string::npos);
  EXPECT_NE(vm({"create", "../x", "--kernel", test_guest("ticker_pvh.elf")}).err.find("invalid VM name"), std::string::npos);
  auto vms = list();
  ASSERT_EQ(vms.size(), 1u);
  EXPECT_EQ(vms[0]["name"], "a");
  EXPECT_EQ(vms[0]["state"], "stopped");
  EXPECT_EQ(vms[0]["cpus"], 2);
  EXPECT_EQ(vms[0]["memory_mib"], 128);
  EXPECT_EQ(vms[0]["cmdline"], "console=ttyS0");
  EXPECT_NE(vm({"list"}).out.find("a "), std::string::npos);
  EXPECT_NE(vm({"info", "nosuch"}).err.find("no VM named nosuch"), std::string::npos);
  EXPECT_NE(vm({"pause", "a"}).err.find("not running"), std::string::npos);
  // INSULA_STATE_DIR is honoured too (same directory, same VM).
  setenv("INSULA_STATE_DIR", dir_.path().c_str(), 1);
  auto r2 = run({insula_binary(), "vm", "list", "-o", "json"});
  unsetenv("INSULA_STATE_DIR");
  EXPECT_EQ(json::parse(r2.out).size(), 1u) << r2.err;
  EXPECT_EQ(vm({"rm", "a"}).status, 0);
  EXPECT_TRUE(list().empty());
}

TEST_F(VmCli, Lifecycle) {
  if (!have_kvm()) GTEST_SKIP() << "/dev/kvm is not available here";
  create_ticker("t");
  auto r = vm({"start", "t"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(info("t")["state"], "running");
  EXPECT_GT(info("t")["pid"].get<int64_t>(), 0);
  EXPECT_NE(vm({"start", "t"}).err.find("already running"), std::string::npos);
  ASSERT_TRUE(wait_until([&] { return log_size("t") >= 3; }, 5s)) << "no guest output in the log";
  EXPECT_EQ(vm({"logs", "t"}).out.substr(0, 3), "...");

  ASSERT_EQ(vm({"pause", "t"}).status, 0);
  EXPECT_EQ(list()[0]["state"], "paused");
  std::this_thread::sleep_for(100ms);
  size_t at_pause = log_size("t");
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(log_size("t"), at_pause) << "the guest ran while paused";
  ASSERT_EQ(vm({"resume", "t"}).status, 0);
  EXPECT_EQ(list()[0]["state"], "running");
  EXPECT_TRUE(wait_until([&] { return log_size("t") > at_pause; }, 5s)) << "the guest did not resume";

  EXPECT_NE(vm({"rm", "t"}).err.find("stop it first"), std::string::npos);
  // The ticker ignores the power button: stop waits --timeout, then stops it.
  r = vm({"stop", "t", "--timeout", "0.5"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("the guest did not power off"), std::string::npos) << r.out;
  auto stopped = info("t");
  EXPECT_EQ(stopped["state"], "stopped");
  EXPECT_EQ(stopped["pid"], 0);
  // The log is kept across restarts: a second run appends.
  size_t first_run = log_size("t");
  ASSERT_EQ(vm({"start", "t"}).status, 0);
  EXPECT_TRUE(wait_until([&] { return log_size("t") > first_run; }, 5s));
  EXPECT_EQ(vm({"rm", "--force", "t"}).status, 0);
  EXPECT_TRUE(list().empty());
}

TEST_F(VmCli, ListReconcilesAVmmKilledWithSigkill) {
  if (!have_kvm()) GTEST_SKIP() << "/dev/kvm is not available here";
  create_ticker("k");
  ASSERT_EQ(vm({"start", "k"}).status, 0);
  pid_t pid = static_cast<pid_t>(info("k")["pid"].get<int64_t>());
  ASSERT_GT(pid, 0);
  ASSERT_EQ(kill(pid, SIGKILL), 0);
  // The VMM is not our child: wait for its /proc entry to go (init reaps it).
  wait_until([&] { return kill(pid, 0) != 0; }, 5s);
  auto vms = list();
  ASSERT_EQ(vms.size(), 1u);
  EXPECT_EQ(vms[0]["state"], "stopped");
  EXPECT_EQ(vms[0]["pid"], 0);
  // The record itself was fixed, and the VM starts again over the stale sockets.
  auto r = vm({"start", "k"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(vm({"kill", "k"}).status, 0);
  EXPECT_EQ(info("k")["state"], "stopped");
}

TEST_F(VmCli, StartFailureLeavesNoLie) {
  if (!have_kvm()) GTEST_SKIP() << "/dev/kvm is not available here";
  std::string junk = dir_.path() + "/junk";
  { std::ofstream(junk) << "not a kernel"; }
  ASSERT_EQ(vm({"create", "j", "--kernel", junk}).status, 0);
  auto r = vm({"start", "j"});
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("cannot start VM j"), std::string::npos) << r.err;
  EXPECT_EQ(info("j")["state"], "stopped");
  EXPECT_EQ(info("j")["pid"], 0);
}

TEST_F(VmCli, ConsoleAttachAndDetach) {
  if (!have_kvm()) GTEST_SKIP() << "/dev/kvm is not available here";
  create_ticker("c");
  ASSERT_EQ(vm({"start", "c"}).status, 0);
  ASSERT_TRUE(wait_until([&] { return log_size("c") >= 1; }, 5s));
  // Ctrl-] ends the attachment; what came before it went to the guest.
  auto r = vm({"console", "c"}, "hi\x1d");
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(info("c")["state"], "running") << "detaching must not stop the VM";
  EXPECT_EQ(vm({"stop", "--force", "c"}).status, 0);
  EXPECT_NE(vm({"console", "c"}).err.find("not running"), std::string::npos);
}

TEST_F(VmCli, LogsFollowEndsWhenTheVmStops) {
  if (!have_kvm()) GTEST_SKIP() << "/dev/kvm is not available here";
  ASSERT_EQ(vm({"create", "h", "--kernel", test_guest("hello_pvh.elf"), "--memory", "64M"}).status, 0);
  auto started = vm({"start", "h"});
  ASSERT_EQ(started.status, 0) << started.err;
  auto r = vm({"logs", "-f", "h"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("hello from a PVH guest"), std::string::npos) << r.out;
  EXPECT_EQ(info("h")["state"], "stopped");
}

TEST_F(VmCli, ConcurrentStartsStartOneVmm) {
  if (!have_kvm()) GTEST_SKIP() << "/dev/kvm is not available here";
  create_ticker("p");
  Result a, b;
  std::thread t1([&] { a = vm({"start", "p"}); });
  std::thread t2([&] { b = vm({"start", "p"}); });
  t1.join();
  t2.join();
  EXPECT_EQ((a.status == 0) + (b.status == 0), 1) << a.err << b.err;
  EXPECT_NE((a.err + b.err).find("already running"), std::string::npos) << a.err << b.err;
  EXPECT_EQ(info("p")["state"], "running");
  EXPECT_EQ(vm({"stop", "--force", "p"}).status, 0);
}

// A CLI killed after spawning its VMM but before recording it: the next
// look finds the VMM through its socket, and start replaces the leftover.
TEST_F(VmCli, UnrecordedVmmIsAdoptedAndReplaced) {
  if (!have_kvm()) GTEST_SKIP() << "/dev/kvm is not available here";
  create_ticker("o");
  std::string vm_dir = dir_.path() + "/vms/o";
  VmmProcess orphan(vm_dir, "o");  // a VMM for o that the record does not know
  auto i = info("o");
  EXPECT_EQ(i["pid"], orphan.pid());
  EXPECT_EQ(i["state"], "starting");
  auto r = vm({"start", "o"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(orphan.wait_exit(std::chrono::seconds(5)), -1) << "the leftover VMM still runs";
  EXPECT_EQ(info("o")["state"], "running");
  EXPECT_NE(info("o")["pid"], orphan.pid());
  EXPECT_EQ(vm({"stop", "--force", "o"}).status, 0);
}

}  // namespace
}  // namespace insula::testing
