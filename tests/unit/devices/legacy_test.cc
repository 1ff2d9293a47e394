// fw_cfg, CMOS RTC, i8042, debug-exit and the I/O bus.
#include <gtest/gtest.h>

#include <ctime>

#include "base/error.h"
#include "devices/io_bus.h"
#include "devices/legacy/debug_exit.h"
#include "devices/legacy/fw_cfg.h"
#include "devices/legacy/i8042.h"
#include "devices/legacy/rtc.h"

namespace insula {
namespace {

uint8_t rd8(BusDevice& d, uint64_t off) {
  uint8_t v = 0;
  d.read(off, {&v, 1});
  return v;
}
void wr8(BusDevice& d, uint64_t off, uint8_t v) { d.write(off, {&v, 1}); }

TEST(FwCfg, SignatureCpusAndRam) {
  FwCfg f(3, 512ull << 20);
  uint8_t sel[2] = {0, 0};
  f.write(0, sel);
  std::string sig;
  for (int i = 0; i < 4; ++i) sig.push_back(static_cast<char>(rd8(f, 1)));
  EXPECT_EQ(sig, "QEMU");
  uint8_t cpus_sel[2] = {FwCfg::kNbCpus, 0};
  f.write(0, cpus_sel);
  EXPECT_EQ(rd8(f, 1) | (rd8(f, 1) << 8), 3);
  uint8_t ram_sel[2] = {FwCfg::kRamSize, 0};
  f.write(0, ram_sel);
  uint64_t ram = 0;
  for (int i = 0; i < 8; ++i) ram |= uint64_t{rd8(f, 1)} << (8 * i);
  EXPECT_EQ(ram, 512ull << 20);
  EXPECT_EQ(rd8(f, 1), 0);  // past the end: zeros
  uint8_t bogus[2] = {0x34, 0x12};
  f.write(0, bogus);
  EXPECT_EQ(rd8(f, 1), 0);
}

TEST(Rtc, ReportsHostUtcTimeInBcd) {
  Rtc rtc(256ull << 20, 0);
  std::time_t now = std::time(nullptr);
  std::tm t{};
  gmtime_r(&now, &t);
  auto reg = [&](uint8_t idx) {
    wr8(rtc, 0, idx);
    return rd8(rtc, 1);
  };
  auto bcd = [](uint8_t v) { return (v >> 4) * 10 + (v & 0xf); };
  EXPECT_EQ(bcd(reg(0x09)), t.tm_year % 100);
  EXPECT_EQ(bcd(reg(0x08)), t.tm_mon + 1);
  EXPECT_EQ(bcd(reg(0x32)), (t.tm_year + 1900) / 100);
  EXPECT_EQ(reg(0x0d) & 0x80, 0x80);
  EXPECT_EQ(reg(0x0a) & 0x80, 0);  // no update in progress
  // Binary mode when register B asks for it.
  wr8(rtc, 0, 0x0b);
  wr8(rtc, 1, 0x06);
  EXPECT_EQ(reg(0x09), t.tm_year % 100);
}

TEST(Rtc, CmosMemorySize) {
  Rtc rtc(64ull << 20, 1ull << 30);
  auto reg = [&](uint8_t idx) {
    wr8(rtc, 0, idx);
    return rd8(rtc, 1);
  };
  EXPECT_EQ(reg(0x34) | (reg(0x35) << 8), (48 << 20) >> 16);
  EXPECT_EQ(reg(0x5b) | (reg(0x5c) << 8) | (reg(0x5d) << 16), (1 << 30) >> 16);
}

TEST(I8042, ResetCommandPullsTheResetLine) {
  int resets = 0;
  I8042 kbd([&] { ++resets; });
  wr8(kbd, 4, 0xaa);
  EXPECT_EQ(rd8(kbd, 4) & 1, 1);
  EXPECT_EQ(rd8(kbd, 0), 0x55);
  EXPECT_EQ(resets, 0);
  wr8(kbd, 4, 0xfe);
  EXPECT_EQ(resets, 1);
}

TEST(DebugExit, PassesTheWrittenValue) {
  uint32_t got = 0;
  DebugExit d([&](uint32_t v) { got = v; });
  uint8_t v[4] = {0x21, 0, 0, 0};
  d.write(0, v);
  EXPECT_EQ(got, 0x21u);
}

struct Probe : BusDevice {
  uint64_t last = ~0ull;
  void read(uint64_t off, std::span<uint8_t> d) override {
    last = off;
    for (auto& b : d) b = 0x42;
  }
  void write(uint64_t off, std::span<const uint8_t>) override { last = off; }
};

TEST(IoBus, DispatchesByRangeAndRejectsOverlap) {
  IoBus bus;
  auto a = std::make_shared<Probe>();
  bus.add(0x100, 0x10, a, "a");
  EXPECT_THROW(bus.add(0x10f, 1, a, "b"), Error);
  EXPECT_THROW(bus.add(0xf8, 0x9, a, "c"), Error);
  uint8_t v = 0;
  EXPECT_TRUE(bus.read(0x105, {&v, 1}));
  EXPECT_EQ(a->last, 5u);
  EXPECT_EQ(v, 0x42);
  EXPECT_FALSE(bus.read(0x110, {&v, 1}));
  EXPECT_EQ(v, 0xff);  // unclaimed space reads as all-ones
  bus.remove(0x100);
  EXPECT_FALSE(bus.write(0x105, {&v, 1}));
}

TEST(FwCfg, SavedStateContinuesARead) {
  FwCfg f(3, 512ull << 20);
  uint8_t sel[2] = {FwCfg::kSignature, 0};
  f.write(0, sel);
  uint8_t b = 0;
  f.read(1, {&b, 1});
  EXPECT_EQ(b, 'Q');
  FwCfg copy(3, 512ull << 20);
  copy.restore(f.save());
  copy.read(1, {&b, 1});
  EXPECT_EQ(b, 'E') << "the restored fw_cfg did not continue where the guest was";
  FwCfgState bad = f.save();
  bad.version = 2;
  EXPECT_THROW(copy.restore(bad), Error);
}

TEST(Rtc, SavedStateKeepsCmosAndIndex) {
  Rtc rtc(64ull << 20, 0);
  uint8_t w[2] = {0x40, 0x77};  // CMOS byte 0x40 := 0x77
  rtc.write(0, {&w[0], 1});
  rtc.write(1, {&w[1], 1});
  Rtc copy(256ull << 20, 0);
  copy.restore(rtc.save());
  uint8_t v = 0;
  copy.read(1, {&v, 1});  // the saved index still selects 0x40
  EXPECT_EQ(v, 0x77);
  RtcState bad = rtc.save();
  bad.version = 0;
  EXPECT_THROW(copy.restore(bad), Error);
}

TEST(I8042, SavedStateKeepsTheOutputBuffer) {
  I8042 kbc([] {});
  uint8_t cmd = 0x20;  // read the controller configuration byte
  kbc.write(4, {&cmd, 1});
  I8042 copy([] {});
  copy.restore(kbc.save());
  uint8_t v = 0;
  copy.read(0, {&v, 1});
  EXPECT_EQ(v, 0x30) << "the pending answer was lost";
}

}  // namespace
}  // namespace insula
