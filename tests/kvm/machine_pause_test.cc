// Machine::pause/resume on /dev/kvm: a paused guest makes no progress, a
// resumed one continues, and stop() ends a paused machine.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

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

}  // namespace
}  // namespace insula::vmm
