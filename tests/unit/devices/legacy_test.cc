// fw_cfg, CMOS RTC, i8042, debug-exit and the I/O bus.
#include <gtest/gtest.h>

#include <ctime>
#include <vector>

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

// Counts the rising edges the i8042 drives on IRQ 1.
struct EdgeCounter : IrqLine {
  bool level = false;
  int edges = 0;
  void set_level(bool high) override {
    if (high && !level) ++edges;
    level = high;
  }
};

// What Linux's i8042 driver does at boot, through the same ports.
std::vector<uint8_t> command(I8042& kbc, uint8_t cmd, int answers) {
  wr8(kbc, 4, cmd);
  std::vector<uint8_t> got;
  for (int i = 0; i < answers && (rd8(kbc, 4) & 1); ++i) got.push_back(rd8(kbc, 0));
  return got;
}

std::vector<uint8_t> drain(I8042& kbc) {
  std::vector<uint8_t> got;
  while (rd8(kbc, 4) & 1) got.push_back(rd8(kbc, 0));
  return got;
}

using Bytes = std::vector<uint8_t>;

TEST(I8042, AnswersTheControllerProbeWithAKeyboardAndNoAuxPort) {
  I8042 kbc([] {});
  EXPECT_EQ(command(kbc, 0xaa, 1), Bytes{0x55});  // self test
  EXPECT_EQ(rd8(kbc, 4) & 0x04, 0x04) << "system flag";
  EXPECT_EQ(command(kbc, 0x20, 1), Bytes{0x30});  // CTR: ports disabled, no translation
  wr8(kbc, 4, 0x60);
  EXPECT_EQ(rd8(kbc, 4) & 0x08, 0x08) << "a command was written last";
  wr8(kbc, 0, 0x65);
  EXPECT_EQ(rd8(kbc, 4) & 0x08, 0) << "data was written last";
  EXPECT_EQ(command(kbc, 0x20, 1), Bytes{0x65});
  EXPECT_EQ(command(kbc, 0xab, 1), Bytes{0x00});  // keyboard interface test
  // AUX loop: the byte comes back marked as AUX data.
  wr8(kbc, 4, 0xd3);
  wr8(kbc, 0, 0x5a);
  EXPECT_EQ(rd8(kbc, 4) & 0x21, 0x21);
  EXPECT_EQ(rd8(kbc, 0), 0x5a);
  // Linux's bit-assignment test: AUX disable does not change the CTR, so the
  // driver sees no AUX port.
  wr8(kbc, 4, 0xa7);
  EXPECT_EQ(command(kbc, 0x20, 1), Bytes{0x65});
  // Keyboard disable/enable move the CTR's bit 4.
  wr8(kbc, 4, 0xad);
  EXPECT_EQ(command(kbc, 0x20, 1), Bytes{0x75});
  wr8(kbc, 4, 0xae);
  EXPECT_EQ(command(kbc, 0x20, 1), Bytes{0x65});
  // Output port: read back, and bit 0 low resets.
  EXPECT_EQ(command(kbc, 0xd0, 1), Bytes{0x03});
}

TEST(I8042, KeyboardAnswersAtkbdWithAnInterruptPerByte) {
  EdgeCounter irq;
  I8042 kbc([] {}, &irq);
  wr8(kbc, 4, 0x60);
  wr8(kbc, 0, 0x01);  // keyboard interrupts on, keyboard enabled
  EXPECT_EQ(irq.edges, 0);
  wr8(kbc, 0, 0xf2);  // identify
  EXPECT_TRUE(irq.level);
  EXPECT_EQ(drain(kbc), (Bytes{0xfa, 0xab, 0x83}));
  EXPECT_EQ(irq.edges, 3) << "one edge per byte, as Linux reads one byte per interrupt";
  EXPECT_FALSE(irq.level);
  wr8(kbc, 0, 0xf5);  // disable scanning
  wr8(kbc, 0, 0xf3);  // typematic rate, then its parameter
  wr8(kbc, 0, 0x20);
  wr8(kbc, 0, 0xed);  // LEDs, then its parameter
  wr8(kbc, 0, 0x00);
  wr8(kbc, 0, 0xf4);  // enable scanning
  EXPECT_EQ(drain(kbc), (Bytes{0xfa, 0xfa, 0xfa, 0xfa, 0xfa, 0xfa}));
  wr8(kbc, 0, 0xf0);  // which scancode set?
  wr8(kbc, 0, 0x00);
  EXPECT_EQ(drain(kbc), (Bytes{0xfa, 0xfa, 0x02}));
  wr8(kbc, 0, 0xff);  // reset: ack, then self test passed
  wr8(kbc, 0, 0xee);  // echo
  wr8(kbc, 0, 0x42);  // not a command: resend
  EXPECT_EQ(drain(kbc), (Bytes{0xfa, 0xaa, 0xee, 0xfe}));
  // With interrupts off in the CTR the guest polls: the line stays low.
  wr8(kbc, 4, 0x60);
  wr8(kbc, 0, 0x00);
  int before = irq.edges;
  wr8(kbc, 0, 0xf2);
  EXPECT_EQ(irq.edges, before);
  EXPECT_EQ(drain(kbc), (Bytes{0xfa, 0xab, 0x83}));
}

TEST(I8042, CtrlAltDelIsTypedInTheGuestsScancodeSet) {
  EdgeCounter irq;
  I8042 kbc([] {}, &irq);
  wr8(kbc, 4, 0x60);
  wr8(kbc, 0, 0x01);
  ASSERT_TRUE(kbc.send_ctrl_alt_del());
  EXPECT_TRUE(irq.level);
  // Set 2 (no translation): Ctrl, Alt, Del made, then broken in reverse.
  EXPECT_EQ(drain(kbc), (Bytes{0x14, 0x11, 0xe0, 0x71, 0xe0, 0xf0, 0x71, 0xf0, 0x11, 0xf0, 0x14}));
  EXPECT_EQ(irq.edges, 11);
  // With the controller translating, the guest expects set 1, and the ID's
  // second byte is translated too.
  wr8(kbc, 4, 0x60);
  wr8(kbc, 0, 0x41);
  ASSERT_TRUE(kbc.send_ctrl_alt_del());
  EXPECT_EQ(drain(kbc), (Bytes{0x1d, 0x38, 0xe0, 0x53, 0xe0, 0xd3, 0xb8, 0x9d}));
  wr8(kbc, 0, 0xf2);
  EXPECT_EQ(drain(kbc), (Bytes{0xfa, 0xab, 0x41}));
}

TEST(I8042, CtrlAltDelIsRefusedWhenTheGuestDoesNotRead) {
  I8042 kbc([] {});
  EXPECT_TRUE(kbc.send_ctrl_alt_del());
  EXPECT_FALSE(kbc.send_ctrl_alt_del()) << "a second sequence cannot fit the 16-byte buffer";
  EXPECT_EQ(drain(kbc).size(), 11u) << "a refused sequence must not be queued in part";
  EXPECT_TRUE(kbc.send_ctrl_alt_del());
}

TEST(I8042, OutputPortBit0ResetsTheCpu) {
  int resets = 0;
  I8042 kbc([&] { ++resets; });
  wr8(kbc, 4, 0xd1);
  wr8(kbc, 0, 0x03);
  EXPECT_EQ(resets, 0);
  wr8(kbc, 4, 0xd1);
  wr8(kbc, 0, 0x02);
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
  // An AUX byte stays an AUX byte, and a keyboard command waiting for its
  // parameter still waits.
  drain(kbc);
  wr8(kbc, 4, 0xd3);
  wr8(kbc, 0, 0x77);
  wr8(kbc, 0, 0xed);
  I8042 again([] {});
  again.restore(kbc.save());
  EXPECT_EQ(rd8(again, 4) & 0x21, 0x21);
  EXPECT_EQ(rd8(again, 0), 0x77);
  EXPECT_EQ(rd8(again, 0), 0xfa);
  wr8(again, 0, 0x07);
  EXPECT_EQ(drain(again), Bytes{0xfa}) << "the LED parameter was taken as a command";
  I8042State bad = kbc.save();
  bad.version = 1;
  EXPECT_THROW(again.restore(bad), Error);
}

}  // namespace
}  // namespace insula
