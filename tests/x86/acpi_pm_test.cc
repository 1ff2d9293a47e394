// The ACPI PM registers as a guest's ACPI driver uses them.
#include "devices/legacy/acpi_pm.h"

#include <gtest/gtest.h>

#include <array>
#include <chrono>
#include <thread>

#include "arch/x86/layout.h"
#include "base/error.h"

namespace insula {
namespace {

constexpr uint64_t kSts = x86::kAcpiPm1EvtPort - x86::kAcpiPmBase;
constexpr uint64_t kEn = kSts + 2;
constexpr uint64_t kCnt = x86::kAcpiPm1CntPort - x86::kAcpiPmBase;
constexpr uint64_t kTmr = x86::kAcpiPmTmrPort - x86::kAcpiPmBase;

class RecordingLine : public IrqLine {
 public:
  void set_level(bool high) override {
    level = high;
    ++changes;
  }
  bool level = false;
  int changes = 0;
};

struct Fixture {
  int poweroffs = 0;
  std::shared_ptr<RecordingLine> sci = std::make_shared<RecordingLine>();
  AcpiPm pm{[this] { ++poweroffs; }, sci};

  uint32_t rd(uint64_t off, int n) {
    std::array<uint8_t, 4> b{};
    pm.read(off, std::span<uint8_t>(b.data(), n));
    uint32_t v = 0;
    for (int i = 0; i < n; ++i) v |= uint32_t(b[i]) << (8 * i);
    return v;
  }
  void wr(uint64_t off, uint32_t v, int n) {
    std::array<uint8_t, 4> b{};
    for (int i = 0; i < n; ++i) b[i] = uint8_t(v >> (8 * i));
    pm.write(off, std::span<const uint8_t>(b.data(), n));
  }
};

TEST(AcpiPm, TimerIsMonotonicAtThePmClockRate) {
  Fixture f;
  uint32_t prev = f.rd(kTmr, 4);
  for (int i = 0; i < 1000; ++i) {
    uint32_t now = f.rd(kTmr, 4);
    EXPECT_LT(uint32_t(now - prev), 1u << 31) << "went backwards";
    prev = now;
  }
  auto t0 = std::chrono::steady_clock::now();
  uint32_t a = f.rd(kTmr, 4);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  uint32_t b = f.rd(kTmr, 4);
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  double expected = secs * AcpiPm::kTimerHz;
  EXPECT_GE(double(uint32_t(b - a)), 0.9 * 0.020 * AcpiPm::kTimerHz);
  EXPECT_LE(double(uint32_t(b - a)), expected * 1.05 + 10);
}

TEST(AcpiPm, S5WithSleepEnablePowersOff) {
  Fixture f;
  uint16_t typ = x86::kAcpiSlpTypS5 << AcpiPm::kSlpTypShift;
  f.wr(kCnt, typ | AcpiPm::kSciEn, 2);  // Linux writes the type first
  EXPECT_EQ(f.poweroffs, 0);
  f.wr(kCnt, typ | AcpiPm::kSlpEn | AcpiPm::kSciEn, 2);
  EXPECT_EQ(f.poweroffs, 1);
  EXPECT_EQ(f.rd(kCnt, 2) & AcpiPm::kSlpEn, 0u);  // write-only
  // A byte write of the high half does it too.
  f.wr(kCnt + 1, (typ | AcpiPm::kSlpEn) >> 8, 1);
  EXPECT_EQ(f.poweroffs, 2);
}

TEST(AcpiPm, OtherSleepTypesDoNothing) {
  Fixture f;
  for (uint16_t typ : {0, 1, 3, 4, 7}) f.wr(kCnt, (typ << AcpiPm::kSlpTypShift) | AcpiPm::kSlpEn, 2);
  EXPECT_EQ(f.poweroffs, 0);
}

TEST(AcpiPm, AlwaysInAcpiMode) {
  Fixture f;
  EXPECT_TRUE(f.rd(kCnt, 2) & AcpiPm::kSciEn);
  f.wr(kCnt, 0, 2);
  EXPECT_TRUE(f.rd(kCnt, 2) & AcpiPm::kSciEn);
}

TEST(AcpiPm, PowerButtonRaisesSciUntilCleared) {
  Fixture f;
  f.pm.press_power_button();
  EXPECT_TRUE(f.rd(kSts, 2) & AcpiPm::kPwrBtnSts);
  EXPECT_FALSE(f.sci->level);  // not enabled yet
  f.wr(kEn, AcpiPm::kPwrBtnSts, 2);
  EXPECT_EQ(f.rd(kEn, 2), AcpiPm::kPwrBtnSts);
  EXPECT_TRUE(f.sci->level);
  f.wr(kSts, 0x0001, 2);  // clearing another bit leaves it
  EXPECT_TRUE(f.sci->level);
  f.wr(kSts, AcpiPm::kPwrBtnSts, 2);  // write 1 to clear
  EXPECT_EQ(f.rd(kSts, 2) & AcpiPm::kPwrBtnSts, 0u);
  EXPECT_FALSE(f.sci->level);
}

TEST(AcpiPm, FixedEventEnableBitsReadBack) {
  // ACPICA verifies every enable/disable by reading the bit back.
  Fixture f;
  f.wr(kEn, 0xFFFF, 2);
  EXPECT_EQ(f.rd(kEn, 2), 0x0721u);  // TMR, GBL, PWRBTN, SLPBTN, RTC
  f.wr(kEn, 0, 2);
  EXPECT_EQ(f.rd(kEn, 2), 0u);
  EXPECT_FALSE(f.sci->level);
}

TEST(AcpiPm, ToleratesAnyOffsetAndWidth) {
  Fixture f;
  std::array<uint8_t, 8> b{};
  f.pm.read(x86::kAcpiPmSize + 5, std::span<uint8_t>(b.data(), 4));
  EXPECT_EQ(b[0], 0xFF);
  f.pm.write(~uint64_t(0) - 1, std::span<const uint8_t>(b.data(), 8));
  f.pm.write(kTmr, std::span<const uint8_t>(b.data(), 4));  // timer is read-only
  f.pm.read(kCnt - 1, std::span<uint8_t>(b.data(), 8));
  EXPECT_EQ(f.poweroffs, 0);
}

TEST(AcpiPm, SaveRestoreKeepsRegistersAndTimer) {
  Fixture f;
  f.wr(kEn, AcpiPm::kPwrBtnSts, 2);
  f.pm.press_power_button();
  AcpiPmState s = f.pm.save();
  Fixture g;
  g.pm.restore(s);
  EXPECT_EQ(g.rd(kEn, 2), AcpiPm::kPwrBtnSts);
  EXPECT_TRUE(g.sci->level);
  uint32_t t = g.rd(kTmr, 4);
  EXPECT_LT(uint32_t(t - s.timer), AcpiPm::kTimerHz);  // continues from the saved value
  s.version = 99;
  EXPECT_THROW(g.pm.restore(s), Error);
}

}  // namespace
}  // namespace insula
