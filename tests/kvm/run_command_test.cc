// `insula run` end to end on /dev/kvm: boot, console, exit statuses, and the
// one-line errors users get for the common mistakes.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <regex>

#include "run_cli.h"

namespace insula::testing {
namespace {

class RunCommand : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!have_kvm()) GTEST_SKIP() << "/dev/kvm is not available here";
  }
};

TEST_F(RunCommand, PvhGuestPrintsAndExitsThroughDebugExit) {
  auto r = run({insula_binary(), "run", "--kernel", test_guest("hello_pvh.elf"), "--memory", "64M"});
  EXPECT_EQ(r.out, "hello from a PVH guest\n");
  EXPECT_EQ(r.status, 1);  // debug-exit value 0 -> (0 << 1) | 1
  EXPECT_EQ(r.err, "");
}

TEST_F(RunCommand, MemoryAboveTheHoleIsAccepted) {
  auto r = run({insula_binary(), "run", "--kernel", test_guest("hello_pvh.elf"), "--memory", "3584M"});
  EXPECT_EQ(r.status, 1) << r.err;
}

TEST_F(RunCommand, UnrecognisedKernelIsAOneLineError) {
  char path[] = "/tmp/insula-not-a-kernel-XXXXXX";
  int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(write(fd, "this is not a kernel", 20), 20);
  close(fd);
  auto r = run({insula_binary(), "run", "--kernel", path});
  unlink(path);
  EXPECT_EQ(r.status, 125);
  EXPECT_NE(r.err.find("kernel format not recognised"), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
}

TEST_F(RunCommand, MemoryTooLargeSaysSo) {
  auto r = run({insula_binary(), "run", "--kernel", test_guest("hello_pvh.elf"), "--memory", "64T"});
  EXPECT_EQ(r.status, 125);
  EXPECT_NE(r.err.find("more than this host has"), std::string::npos) << r.err;
}

TEST_F(RunCommand, CpuCountOutOfRange) {
  auto r = run({insula_binary(), "run", "--kernel", test_guest("hello_pvh.elf"), "--cpus", "0"});
  EXPECT_EQ(r.status, 125);
  EXPECT_NE(r.err.find("--cpus 0 is out of range"), std::string::npos) << r.err;
}

TEST_F(RunCommand, MissingKernelFile) {
  auto r = run({insula_binary(), "run", "--kernel", "/nonexistent/vmlinuz"});
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("/nonexistent/vmlinuz"), std::string::npos) << r.err;
}

// These need no /dev/kvm: they hide it.
TEST(RunWithoutKvm, NoDevKvmIsExplained) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root for a private mount namespace";
  // Hide /dev behind an empty tmpfs in a private mount namespace.
  auto r = run({"unshare", "-m", "sh", "-c",
                "mount -t tmpfs none /dev && exec " + insula_binary() + " run --kernel " + test_guest("hello_pvh.elf")});
  EXPECT_EQ(r.status, 125);
  EXPECT_NE(r.err.find("/dev/kvm does not exist"), std::string::npos) << r.err;
}

// Inside a PVM guest the kvm_pvm module is loaded but creates no /dev/kvm:
// the default-guest choice must not blame PVM for what is a missing device.
TEST(RunWithoutKvm, LoadedPvmModuleWithoutDevKvmIsNotCalledPvm) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root for a private mount namespace";
  auto r = run({"unshare", "-m", "sh", "-c",
                "mount -t tmpfs none /dev && mount -t tmpfs none /sys/module && mkdir /sys/module/kvm_pvm && exec " +
                    insula_binary() + " run"});
  EXPECT_EQ(r.status, 125);
  EXPECT_NE(r.err.find("/dev/kvm does not exist"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("PVM"), std::string::npos) << r.err;
}

TEST_F(RunCommand, NoPermissionOnDevKvmIsExplained) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to switch to an unprivileged user";
  auto r = run({"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", insula_binary(), "run", "--kernel",
                test_guest("hello_pvh.elf")});
  EXPECT_EQ(r.status, 125);
  EXPECT_NE(r.err.find("permission denied opening /dev/kvm"), std::string::npos) << r.err;
}

TEST_F(RunCommand, UnemulatableInstructionOnPvmIsExplained) {
  auto r = run({insula_binary(), "run", "--kernel", test_guest("int3_pvh.elf"), "--memory", "64M"});
  if (is_pvm()) {
    EXPECT_EQ(r.status, 125);
    EXPECT_NE(r.err.find("PVM"), std::string::npos) << r.err;
    EXPECT_EQ(r.err.find("rip="), std::string::npos) << "register dump only with --debug";
    auto d = run({insula_binary(), "--debug", "run", "--kernel", test_guest("int3_pvh.elf"), "--memory", "64M"});
    EXPECT_NE(d.err.find("rip="), std::string::npos) << d.err;
  } else {
    EXPECT_EQ(r.status, 4) << "int3 without an IDT triple-faults on hardware KVM: " << r.err;
  }
}

TEST_F(RunCommand, WithoutKernelTheEmbeddedDemoBoots) {
  // No appliance here: insula falls back to the demo guest linked into it.
  auto r = run({"env", "INSULA_APPLIANCE_DIR=/nonexistent", insula_binary(), "run"});
  EXPECT_NE(r.out.find("PASS: demo"), std::string::npos) << r.out << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << "one line saying why: " << r.err;
  if (is_pvm()) {
    EXPECT_NE(r.err.find("PVM"), std::string::npos) << r.err;
  }
}

TEST_F(RunCommand, StdinReachesTheGuestUart) {
  // The echo guest (guests/) is the full check; here: input on a pipe must not
  // hang or break a guest that never reads it.
  auto r = run({insula_binary(), "run", "--kernel", test_guest("hello_pvh.elf")}, "some input\n");
  EXPECT_EQ(r.status, 1);
}

}  // namespace
}  // namespace insula::testing

namespace insula::testing {
namespace {

class RunEnds : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!have_kvm()) GTEST_SKIP() << "/dev/kvm is not available here";
  }
};

TEST_F(RunEnds, I8042ResetEndsTheRunWithStatus2) {
  auto r = run({insula_binary(), "run", "--kernel", test_guest("reset_pvh.elf")});
  EXPECT_EQ(r.out, "b\n");
  EXPECT_EQ(r.status, 2) << r.err;
}

TEST_F(RunEnds, RebootFlagRestartsTheGuest) {
  // The guest resets right after booting; with --reboot it boots again and
  // again until killed (timeout 2 s).
  auto r = run({"timeout", "2", insula_binary(), "run", "--reboot", "--kernel", test_guest("reset_pvh.elf")});
  EXPECT_EQ(r.status, 124);  // killed by timeout: it never stopped by itself
  EXPECT_GE(std::count(r.out.begin(), r.out.end(), 'b'), 3) << r.out;
}

TEST_F(RunEnds, SigtermStopsTheVmWithStatus143) {
  auto r = run({"sh", "-c",
                insula_binary() + " run --reboot --kernel " + test_guest("reset_pvh.elf") +
                    " & p=$!; sleep 0.5; kill -TERM $p; wait $p"});
  EXPECT_EQ(r.status, 128 + 15) << r.err;
}

TEST_F(RunEnds, Sigusr2LogsTheDeviceStateAndTheRunGoesOn) {
  // The guest prints forever; once it has printed, SIGUSR2 dumps the devices
  // (its virtio-blk never set up by this guest), and the VM still runs until
  // SIGTERM.
  auto r = run({"sh", "-c",
                "d=$(mktemp); o=$(mktemp); truncate -s 1M $d; " + insula_binary() + " run --kernel " +
                    test_guest("ticker_pvh.elf") +
                    " --disk $d >$o & p=$!; i=0; while [ ! -s $o ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done; "
                    "kill -USR2 $p; sleep 0.5; kill -0 $p && echo running-after-dump; kill -TERM $p; wait $p; s=$?; "
                    "rm -f $d $o; exit $s"});
  EXPECT_EQ(r.status, 128 + 15) << r.err;
  EXPECT_EQ(r.out, "running-after-dump\n");
  EXPECT_NE(r.err.find("virtio-blk: status 0x0"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("virtio-blk: queue 0: not ready, no vector"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("virtio-blk: queue 0: 0 in flight, 0 completed unsignalled"), std::string::npos) << r.err;
}

TEST_F(RunEnds, TripleFaultEndsTheRunWithStatus4) {
  auto r = run({insula_binary(), "run", "--kernel", test_guest("triple_fault_pvh.elf")});
  EXPECT_EQ(r.status, 4) << r.err;
  EXPECT_NE(r.err.find("vCPU 0 triple-faulted"), std::string::npos) << r.err;
  // Where: the guest's div, with the empty IDT it loaded (at 0x100000 on);
  // on AMD-V (kvm_amd, the test host's) KVM has reset the registers by then.
  if (::access("/sys/module/kvm_amd", F_OK) == 0)
    EXPECT_NE(r.err.find("triple-faulted (where is lost: KVM reset the vCPU's registers"), std::string::npos) << r.err;
  else
    EXPECT_TRUE(std::regex_search(r.err, std::regex("triple-faulted at RIP 0x10[0-9a-f]{4} \\(RSP 0x[0-9a-f]+, CR2 "
                                                    "0x[0-9a-f]+, IDT 0x0/0x0\\)")))
        << r.err;
}

}  // namespace
}  // namespace insula::testing
