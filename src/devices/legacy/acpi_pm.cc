// ACPI PM1a event/control blocks and PM timer (ACPI 6.5 §4.8).
#include "devices/legacy/acpi_pm.h"

#include <time.h>

#include <array>

#include "arch/x86/layout.h"
#include "base/error.h"

namespace insula {
namespace {

// Offsets inside the block, from layout.h's port numbers.
constexpr uint64_t kStsOff = x86::kAcpiPm1EvtPort - x86::kAcpiPmBase;
constexpr uint64_t kEnOff = kStsOff + 2;
constexpr uint64_t kCntOff = x86::kAcpiPm1CntPort - x86::kAcpiPmBase;
constexpr uint64_t kTmrOff = x86::kAcpiPmTmrPort - x86::kAcpiPmBase;
static_assert(kTmrOff + 4 <= x86::kAcpiPmSize);

// Bits a guest may set in PM1_EN / PM1_CNT; SLP_EN is write-only. Every
// fixed event's enable bit is writable (TMR, GBL, PWRBTN, SLPBTN, RTC):
// ACPICA reads an enable bit back after writing it and logs an error when
// it did not stick, even for events this machine never raises.
constexpr uint16_t kEnWritable = AcpiPm::kTmrSts | AcpiPm::kGblSts | AcpiPm::kPwrBtnSts | (1 << 9) | (1 << 10);
constexpr uint16_t kCntWritable = AcpiPm::kSlpTypMask | (1 << 1) /* BM_RLD */;

uint32_t clock_ticks() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  // Split so the product cannot overflow: seconds, then the fraction.
  uint64_t ticks = uint64_t(ts.tv_sec) * AcpiPm::kTimerHz + uint64_t(ts.tv_nsec) * AcpiPm::kTimerHz / 1000000000u;
  return uint32_t(ticks);  // the counter wraps at 32 bits (TMR_VAL_EXT)
}

// Value and byte mask of the part of a 16-bit register at `reg` that an
// access [off, off+len) touches.
bool slice16(uint64_t reg, uint64_t off, std::span<const uint8_t> d, uint16_t& value, uint16_t& mask) {
  value = mask = 0;
  for (size_t i = 0; i < d.size(); ++i) {
    uint64_t a = off + i;
    if (a >= reg && a < reg + 2) {
      value |= uint16_t(d[i] << (8 * (a - reg)));
      mask |= uint16_t(0xFF << (8 * (a - reg)));
    }
  }
  return mask != 0;
}

}  // namespace

AcpiPm::AcpiPm(std::function<void()> on_poweroff, std::shared_ptr<IrqLine> sci)
    : on_poweroff_(std::move(on_poweroff)), sci_(std::move(sci)) {}

uint32_t AcpiPm::timer_locked() const { return clock_ticks() + timer_offset_; }

void AcpiPm::update_sci_locked() {
  bool level = (pm1_cnt_ & kSciEn) && (pm1_sts_ & pm1_en_ & kEnWritable);
  if (level == sci_level_) return;
  sci_level_ = level;
  if (sci_) sci_->set_level(level);
}

void AcpiPm::read(uint64_t offset, std::span<uint8_t> data) {
  std::array<uint8_t, x86::kAcpiPmSize> regs{};
  {
    std::lock_guard lock(mu_);
    auto put = [&](uint64_t at, uint32_t v, int n) {
      for (int i = 0; i < n; ++i) regs[at + i] = uint8_t(v >> (8 * i));
    };
    put(kStsOff, pm1_sts_, 2);
    put(kEnOff, pm1_en_, 2);
    put(kCntOff, pm1_cnt_, 2);
    put(kTmrOff, timer_locked(), 4);
  }
  for (size_t i = 0; i < data.size(); ++i) data[i] = offset + i < regs.size() ? regs[offset + i] : 0xFF;
}

void AcpiPm::write(uint64_t offset, std::span<const uint8_t> data) {
  bool poweroff = false;
  {
    std::lock_guard lock(mu_);
    uint16_t v = 0, m = 0;
    if (slice16(kStsOff, offset, data, v, m)) pm1_sts_ &= uint16_t(~(v & m));  // write 1 to clear
    if (slice16(kEnOff, offset, data, v, m)) pm1_en_ = uint16_t((pm1_en_ & ~m) | (v & m & kEnWritable));
    if (slice16(kCntOff, offset, data, v, m)) {
      uint16_t w = m & kCntWritable;
      pm1_cnt_ = uint16_t((pm1_cnt_ & ~w) | (v & w));
      // SLP_EN starts the transition into the sleep type just written.
      if ((m & kSlpEn) && (v & kSlpEn) && ((pm1_cnt_ & kSlpTypMask) >> kSlpTypShift) == x86::kAcpiSlpTypS5)
        poweroff = true;
    }
    update_sci_locked();
  }
  // Outside the lock: the callback may stop vCPUs or tear the machine down.
  if (poweroff && on_poweroff_) on_poweroff_();
}

void AcpiPm::press_power_button() {
  std::lock_guard lock(mu_);
  pm1_sts_ |= kPwrBtnSts;
  update_sci_locked();
}

AcpiPmState AcpiPm::save() const {
  std::lock_guard lock(mu_);
  AcpiPmState s;
  s.pm1_sts = pm1_sts_;
  s.pm1_en = pm1_en_;
  s.pm1_cnt = pm1_cnt_;
  s.timer = timer_locked();
  return s;
}

void AcpiPm::restore(const AcpiPmState& s) {
  if (s.version != AcpiPmState::kVersion)
    throw error("ACPI PM state version {} is not supported (expected {})", s.version, AcpiPmState::kVersion);
  std::lock_guard lock(mu_);
  pm1_sts_ = s.pm1_sts;
  pm1_en_ = s.pm1_en & kEnWritable;
  pm1_cnt_ = uint16_t((s.pm1_cnt & kCntWritable) | kSciEn);
  timer_offset_ = s.timer - clock_ticks();
  update_sci_locked();
}

}  // namespace insula
