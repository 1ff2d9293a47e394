// `insula vm` end to end with a temporary state directory: create, start,
// list, pause, resume, stop, rm; reconciliation after a VMM is killed with
// SIGKILL; logs; console attach and Ctrl-] detach.
#include <gtest/gtest.h>
#include <signal.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sqlite3.h>
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
    return run_vm_cli(dir_.path(), args, input, 30);
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

// Without --kernel a VM gets the Linux appliance ($INSULA_APPLIANCE_DIR here).
TEST_F(VmCli, CreateWithoutKernelUsesTheAppliance) {
  std::string appliance = dir_.path() + "/appliance";
  std::filesystem::create_directories(appliance);
  auto create = [&](const std::string& name, std::vector<std::string> extra = {}) {
    std::vector<std::string> argv{"/usr/bin/env", "INSULA_APPLIANCE_DIR=" + appliance, insula_binary(), "vm",
                                  "--state-dir", dir_.path(), "create", name};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return run(argv, {}, 30);
  };
  auto r = create("none");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("no Linux appliance in " + appliance), std::string::npos) << r.err;
  EXPECT_TRUE(list().empty());
  { std::ofstream(appliance + "/vmlinuz") << "kernel"; }
  { std::ofstream(appliance + "/initramfs.cpio.gz") << "initrd"; }
  r = create("app", {"--memory", "512M"});
  ASSERT_EQ(r.status, 0) << r.err;
  auto i = info("app");
  EXPECT_EQ(i["kernel"], appliance + "/vmlinuz");
  EXPECT_EQ(i["initrd"], appliance + "/initramfs.cpio.gz");
  EXPECT_NE(i["cmdline"].get<std::string>().find("console=ttyS0"), std::string::npos);
  // An explicit command line wins.
  ASSERT_EQ(create("app2", {"--cmdline", "console=ttyS0 insula.nomodules=1"}).status, 0);
  EXPECT_EQ(info("app2")["cmdline"], "console=ttyS0 insula.nomodules=1");
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

// Devices on vm create are recorded (absolute paths), refused when wrong,
// sent by start through the device endpoints, and the balloon verbs drive
// the running VM's balloon.
TEST_F(VmCli, DevicesAndBalloon) {
  std::string disk = dir_.path() + "/d.img";
  { std::ofstream(disk) << std::string(65536, '\0'); }
  auto r = vm({"create", "nodisk", "--kernel", test_guest("ticker_pvh.elf"), "--disk", dir_.path() + "/missing"});
  EXPECT_NE(r.err.find("no such file"), std::string::npos) << r.err;
  r = vm({"create", "badmac", "--kernel", test_guest("ticker_pvh.elf"), "--net", "tapz,mac=01:00:00:00:00:00"});
  EXPECT_NE(r.err.find("multicast"), std::string::npos) << r.err;
  r = vm({"create", "bigballoon", "--kernel", test_guest("ticker_pvh.elf"), "--memory", "64M", "--balloon", "65"});
  EXPECT_NE(r.err.find("more than the VM's memory"), std::string::npos) << r.err;
  EXPECT_TRUE(list().empty()) << "a refused create left a record";
  r = vm({"create", "n", "--kernel", test_guest("ticker_pvh.elf"), "--net", "tapz,mac=52:54:00:00:00:09"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(info("n")["devices"]["network-interfaces"][0],
            (json{{"iface_id", "net0"}, {"host_dev_name", "tapz"}, {"guest_mac", "52:54:00:00:00:09"}}));

  r = vm({"create", "b", "--kernel", test_guest("ticker_pvh.elf"), "--memory", "64M", "--disk", disk + ",ro",
          "--vsock", "5," + dir_.path() + "/v.sock", "--balloon", "8"});
  ASSERT_EQ(r.status, 0) << r.err;
  auto devices = info("b")["devices"];
  EXPECT_EQ(devices["drives"][0]["path_on_host"], disk);
  EXPECT_EQ(devices["drives"][0]["is_read_only"], true);
  EXPECT_EQ(devices["vsock"]["guest_cid"], 5);
  EXPECT_EQ(devices["balloon"]["amount_mib"], 8);
  auto text = vm({"info", "b"}).out;
  EXPECT_NE(text.find("disk:     " + disk + " (read-only)"), std::string::npos) << text;
  EXPECT_NE(text.find("balloon:  8 MiB"), std::string::npos) << text;
  if (!have_kvm()) GTEST_SKIP() << "/dev/kvm is not available here";
  r = vm({"start", "b"});
  ASSERT_EQ(r.status, 0) << r.err;
  auto config = api::ApiClient(info("b")["api_socket"].get<std::string>()).call("GET", "/vm/config").body;
  EXPECT_EQ(config["drives"][0]["path_on_host"], disk);
  EXPECT_EQ(config["vsock"]["uds_path"], dir_.path() + "/v.sock");
  EXPECT_EQ(config["balloon"]["amount_mib"], 8);
  r = vm({"balloon", "b", "16M"});
  ASSERT_EQ(r.status, 0) << r.err;
  r = vm({"balloon-stats", "b", "--output", "json"});
  ASSERT_EQ(r.status, 0) << r.err;
  auto stats = json::parse(r.out);
  EXPECT_EQ(stats["target_mib"], 16);
  EXPECT_EQ(stats["target_pages"], 16 * 256);
  EXPECT_NE(vm({"balloon-stats", "b"}).out.find("target_mib:"), std::string::npos);
  EXPECT_NE(vm({"balloon", "b", "1G"}).err.find("more than the guest's memory"), std::string::npos);
  EXPECT_EQ(vm({"stop", "--force", "b"}).status, 0);
  EXPECT_NE(vm({"balloon", "b", "1"}).err.find("not running"), std::string::npos);
}

// A database written before the devices column existed opens, lists, and
// gains the column (and its VMs have no devices).
TEST_F(VmCli, OldDatabaseIsMigrated) {
  std::string db = dir_.path() + "/insula.db";
  std::string sql =
      "CREATE TABLE vms (name TEXT PRIMARY KEY, kernel TEXT NOT NULL, initrd TEXT NOT NULL, cmdline TEXT NOT NULL,"
      " cpus INTEGER NOT NULL, memory INTEGER NOT NULL, state TEXT NOT NULL, pid INTEGER NOT NULL,"
      " pid_start INTEGER NOT NULL, api_socket TEXT NOT NULL, console_socket TEXT NOT NULL,"
      " log_path TEXT NOT NULL, created_at INTEGER NOT NULL);"
      "INSERT INTO vms VALUES ('old', '/k', '', '', 1, 67108864, 'stopped', 0, 0, '/s/api.sock', '/s/c.sock', '/s/l', 1);";
  sqlite3* h = nullptr;
  ASSERT_EQ(sqlite3_open(db.c_str(), &h), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(h, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(h);
  auto vms = list();
  ASSERT_EQ(vms.size(), 1u);
  EXPECT_EQ(vms[0]["name"], "old");
  EXPECT_EQ(vms[0]["devices"], json::object());
  // And it is writable with the new schema.
  auto r = vm({"create", "new", "--kernel", test_guest("ticker_pvh.elf"), "--balloon", "4"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(info("new")["devices"]["balloon"]["amount_mib"], 4);
  EXPECT_EQ(list().size(), 2u);
}

}  // namespace
}  // namespace insula::testing
