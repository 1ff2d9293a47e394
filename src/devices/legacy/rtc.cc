// CMOS RTC model.
#include "devices/legacy/rtc.h"

#include <algorithm>
#include <ctime>

#include "base/error.h"

namespace insula {

namespace {

enum : uint8_t {
  kSeconds = 0x00, kMinutes = 0x02, kHours = 0x04, kWeekday = 0x06, kDay = 0x07, kMonth = 0x08, kYear = 0x09,
  kRegA = 0x0a, kRegB = 0x0b, kRegC = 0x0c, kRegD = 0x0d, kCentury = 0x32,
};
constexpr uint8_t kRegBBinary = 0x04, kRegB24h = 0x02;

uint8_t to_bcd(int v) { return static_cast<uint8_t>(((v / 10) << 4) | (v % 10)); }

}  // namespace

Rtc::Rtc(uint64_t lowmem, uint64_t highmem) {
  cmos_[kRegA] = 0x26;  // 32.768 kHz time base, 1024 Hz rate; UIP clear
  cmos_[kRegB] = kRegB24h;
  cmos_[kRegD] = 0x80;  // valid RAM and time
  // Base memory 640 KiB; extended memory (1 MiB..64 MiB) in KiB; memory
  // above 16 MiB in 64 KiB units; memory above 4 GiB in 64 KiB units.
  cmos_[0x15] = 0x80;
  cmos_[0x16] = 0x02;
  uint64_t ext_kib = lowmem > (1u << 20) ? std::min<uint64_t>((lowmem - (1u << 20)) >> 10, 0xfc00) : 0;
  cmos_[0x17] = cmos_[0x30] = static_cast<uint8_t>(ext_kib);
  cmos_[0x18] = cmos_[0x31] = static_cast<uint8_t>(ext_kib >> 8);
  uint64_t above16 = lowmem > (16u << 20) ? std::min<uint64_t>((lowmem - (16u << 20)) >> 16, 0xffff) : 0;
  cmos_[0x34] = static_cast<uint8_t>(above16);
  cmos_[0x35] = static_cast<uint8_t>(above16 >> 8);
  uint64_t above4g = highmem >> 16;
  cmos_[0x5b] = static_cast<uint8_t>(above4g);
  cmos_[0x5c] = static_cast<uint8_t>(above4g >> 8);
  cmos_[0x5d] = static_cast<uint8_t>(above4g >> 16);
}

uint8_t Rtc::read_register(uint8_t index) {
  if (index <= kYear || index == kCentury) {
    std::time_t now = std::time(nullptr);
    std::tm t{};
    gmtime_r(&now, &t);
    bool binary = cmos_[kRegB] & kRegBBinary;
    auto enc = [binary](int v) { return binary ? static_cast<uint8_t>(v) : to_bcd(v); };
    switch (index) {
      case kSeconds: return enc(t.tm_sec);
      case kMinutes: return enc(t.tm_min);
      case kHours:
        if (cmos_[kRegB] & kRegB24h) return enc(t.tm_hour);
        return static_cast<uint8_t>(enc(t.tm_hour % 12 == 0 ? 12 : t.tm_hour % 12) | (t.tm_hour >= 12 ? 0x80 : 0));
      case kWeekday: return enc(t.tm_wday + 1);
      case kDay: return enc(t.tm_mday);
      case kMonth: return enc(t.tm_mon + 1);
      case kYear: return enc(t.tm_year % 100);
      case kCentury: return enc((t.tm_year + 1900) / 100);
      default: return cmos_[index];  // alarm registers
    }
  }
  if (index == kRegC) {
    uint8_t v = cmos_[kRegC];
    cmos_[kRegC] = 0;  // reading C acknowledges interrupts
    return v;
  }
  return cmos_[index];
}

void Rtc::read(uint64_t offset, std::span<uint8_t> data) {
  std::lock_guard lock(mu_);
  uint8_t v = offset == 1 ? read_register(index_) : 0xff;
  for (auto& b : data) b = v;
}

void Rtc::write(uint64_t offset, std::span<const uint8_t> data) {
  if (data.empty()) return;
  std::lock_guard lock(mu_);
  if (offset == 0) {
    index_ = data[0] & 0x7f;  // bit 7 is the NMI mask
    return;
  }
  if (index_ == kRegA) cmos_[kRegA] = (cmos_[kRegA] & 0x80) | (data[0] & 0x7f);
  else if (index_ == kRegB) cmos_[kRegB] = data[0];
  else if (index_ > kYear && index_ != kRegC && index_ != kRegD && index_ != kCentury) cmos_[index_] = data[0];
  // Writes to the time registers are ignored: the guest's clock is the host's.
}

RtcState Rtc::save() {
  std::lock_guard lock(mu_);
  RtcState s;
  s.index = index_;
  std::copy(cmos_.begin(), cmos_.end(), s.cmos);
  return s;
}

void Rtc::restore(const RtcState& s) {
  if (s.version != RtcState::kVersion)
    throw error("RTC state version {} is not supported (expected {})", s.version, RtcState::kVersion);
  std::lock_guard lock(mu_);
  index_ = s.index & 0x7f;
  std::copy(s.cmos, s.cmos + 128, cmos_.begin());
}

}  // namespace insula
