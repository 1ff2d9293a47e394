// Machine::pause/resume on /dev/kvm: a paused guest makes no progress, a
// resumed one continues, stop() ends a paused machine, and a paused
// machine's disks hold what its guest wrote.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <thread>

#include "block/block_device.h"
#include "block/image_ops.h"
#include "run_cli.h"
#include "vmm/machine.h"

namespace insula::vmm {
namespace {

using namespace std::chrono_literals;

TEST(MachinePause, PausedGuestMakesNoProgressAndResumes) {
  if (!testing::have_kvm()) GTEST_SKIP() << "/dev/kvm is not available here";
  std::atomic<size_t> dots{0};
  MachineConfig cfg;
  cfg.kernel = testing::test_guest("ticker_pvh.elf");
  cfg.memory = 64 << 20;
  cfg.cpus = 2;  // the AP idles in wait-for-SIPI: it must park too
  Machine m(cfg, [&](uint8_t c) {
    if (c == '.') ++dots;
  });
  MachineExit exit;
  std::thread runner([&] { exit = m.run(); });
  auto wait_for = [&](size_t n) {
    for (int i = 0; i < 500 && dots < n; ++i) std::this_thread::sleep_for(10ms);
    return dots.load();
  };
  ASSERT_GE(wait_for(3), 3u) << "the guest never printed";
  m.pause();
  EXPECT_TRUE(m.paused());
  size_t at_pause = dots;
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(dots.load(), at_pause) << "the guest ran while paused";
  m.resume();
  EXPECT_GE(wait_for(at_pause + 3), at_pause + 3) << "the guest did not resume";
  m.pause();
  m.stop({MachineExit::Kind::kPowerOff, 0, "test"});
  runner.join();
  EXPECT_EQ(exit.kind, MachineExit::Kind::kPowerOff);
}

// Pausing before run() (how a snapshot is loaded paused) returns at once;
// the vCPUs park as their threads start, and resume lets them run.
TEST(MachinePause, PauseBeforeRunParksTheVcpusAsTheyStart) {
  if (!testing::have_kvm()) GTEST_SKIP() << "/dev/kvm is not available here";
  std::atomic<size_t> dots{0};
  MachineConfig cfg;
  cfg.kernel = testing::test_guest("ticker_pvh.elf");
  cfg.memory = 64 << 20;
  cfg.cpus = 2;
  Machine m(cfg, [&](uint8_t c) {
    if (c == '.') ++dots;
  });
  std::atomic<bool> paused{false};
  std::thread pauser([&] {
    m.pause();
    paused = true;
  });
  for (int i = 0; i < 500 && !paused; ++i) std::this_thread::sleep_for(10ms);
  ASSERT_TRUE(paused.load()) << "pause() before run() did not return";
  pauser.join();
  MachineExit exit;
  std::thread runner([&] { exit = m.run(); });
  for (int i = 0; i < 500 && !m.paused(); ++i) std::this_thread::sleep_for(10ms);
  EXPECT_TRUE(m.paused());
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(dots.load(), 0u) << "the guest ran while paused";
  m.resume();
  for (int i = 0; i < 500 && dots < 3; ++i) std::this_thread::sleep_for(10ms);
  EXPECT_GE(dots.load(), 3u) << "the guest did not run after resume";
  m.stop({MachineExit::Kind::kPowerOff, 0, "test"});
  runner.join();
}

// A vCPU that halted with interrupts off may have left its thread (KVM
// reports HLT to userspace on some backends): pause() must still return.
TEST(MachinePause, PauseReturnsWhenAVcpuHasHalted) {
  if (!testing::have_kvm()) GTEST_SKIP() << "/dev/kvm is not available here";
  MachineConfig cfg;
  cfg.kernel = testing::test_guest("halt_pvh.elf");
  cfg.memory = 64 << 20;
  Machine m(cfg, [](uint8_t) {});
  MachineExit exit;
  std::thread runner([&] { exit = m.run(); });
  std::this_thread::sleep_for(200ms);  // long enough to reach its hlt
  std::atomic<bool> paused{false};
  std::thread pauser([&] {
    m.pause();
    paused = true;
  });
  for (int i = 0; i < 500 && !paused; ++i) std::this_thread::sleep_for(10ms);
  EXPECT_TRUE(paused.load()) << "pause() did not return";
  if (paused) {
    EXPECT_TRUE(m.paused());
  }
  m.stop({MachineExit::Kind::kPowerOff, 0, "test"});  // also releases a pause() still waiting
  pauser.join();
  runner.join();
  EXPECT_EQ(exit.kind, MachineExit::Kind::kPowerOff);
}

// The qcow2 driver holds the table entries of fresh clusters back until a
// flush, and the diskcount guest with flush=0 never flushes: another reader
// of the file (a running VM's export copies it while paused) sees the
// guest's count only because pause() flushed the disk.
TEST(MachinePause, PausedMachinesDisksHoldWhatTheGuestWrote) {
  if (!testing::have_kvm()) GTEST_SKIP() << "/dev/kvm is not available here";
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / fmt::format("insula-pause-test-{}", ::getpid());
  fs::create_directories(dir);
  block::CreateRequest c;
  c.path = (dir / "disk.qcow2").string();
  c.format = "qcow2";
  c.size = 1 << 20;
  block::create_image(c);

  MachineConfig cfg;
  cfg.kernel = GUEST_KIT_DIR "/diskcount-pvh.elf";
  cfg.cmdline = "period_ms=20 flush=0";
  cfg.memory = 32 << 20;
  cfg.disks.push_back({c.path, false, false, "pause-disk", "qcow2"});
  std::mutex mu;
  std::string console;
  Machine m(cfg, [&](uint8_t ch) {
    std::lock_guard lock(mu);
    console += static_cast<char>(ch);
  });
  // Every count the guest printed, in order.
  auto counts = [&] {
    std::lock_guard lock(mu);
    return testing::printed_counts(console, "diskcount");
  };
  MachineExit exit;
  std::thread runner([&] { exit = m.run(); });
  for (int i = 0; i < 3000 && counts().size() < 3; ++i) std::this_thread::sleep_for(10ms);
  m.pause();
  std::vector<uint64_t> printed = counts();
  uint64_t on_disk = 0;
  std::string mark(16, '\0');
  {
    block::OpenOptions ro;
    ro.read_only = true;
    auto d = block::open_image(c.path, ro);
    uint8_t sector[512];
    d->read(0, {sector, sizeof sector});
    mark.assign(reinterpret_cast<const char*>(sector), 16);
    std::memcpy(&on_disk, sector + 32, sizeof on_disk);
  }
  m.stop({MachineExit::Kind::kPowerOff, 0, "test"});
  runner.join();
  fs::remove_all(dir);
  ASSERT_GE(printed.size(), 3u) << "the guest never counted: " << console;
  EXPECT_EQ(mark, "insula-diskcount") << "the guest's sector did not reach the file";
  // Paused between its write and its print, the disk is one ahead.
  EXPECT_TRUE(on_disk == printed.back() || on_disk == printed.back() + 1)
      << "disk " << on_disk << ", last printed " << printed.back();
}

}  // namespace
}  // namespace insula::vmm
