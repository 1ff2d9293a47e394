#include "devices/legacy/serial.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "base/error.h"

namespace insula {
namespace {

struct RecordingLine : IrqLine {
  std::vector<bool> levels;
  void set_level(bool high) override { levels.push_back(high); }
  bool high() const { return !levels.empty() && levels.back(); }
};

class SerialTest : public ::testing::Test {
 protected:
  uint8_t rd(uint64_t reg) {
    uint8_t v = 0;
    uart.read(reg, {&v, 1});
    return v;
  }
  void wr(uint64_t reg, uint8_t v) { uart.write(reg, {&v, 1}); }

  std::string out;
  RecordingLine irq;
  Serial uart{[this](uint8_t b) { out.push_back(static_cast<char>(b)); }, &irq};
};

TEST_F(SerialTest, TransmitsBytesAndReportsTransmitterEmpty) {
  for (char c : std::string("hi\n")) wr(0, static_cast<uint8_t>(c));
  EXPECT_EQ(out, "hi\n");
  EXPECT_EQ(rd(5) & 0x60, 0x60);  // THRE and TEMT: polling guests can always send
}

TEST_F(SerialTest, ReceiveSetsDataReadyAndRaisesInterrupt) {
  wr(4, 0x08);  // OUT2: interrupts reach the PIC
  wr(1, 0x01);  // receive-data interrupt
  EXPECT_EQ(rd(5) & 0x01, 0);
  uint8_t in[] = {'a', 'b'};
  EXPECT_EQ(uart.push_input(in), 2u);
  EXPECT_TRUE(irq.high());
  EXPECT_EQ(rd(2) & 0x0f, 0x04);  // IIR: received data
  EXPECT_EQ(rd(5) & 0x01, 0x01);
  EXPECT_EQ(rd(0), 'a');
  EXPECT_EQ(rd(0), 'b');
  EXPECT_EQ(rd(5) & 0x01, 0);
  EXPECT_FALSE(irq.high());
  EXPECT_EQ(rd(2) & 0x0f, 0x01);  // nothing pending
}

TEST_F(SerialTest, ThreInterruptOnEnableAndAfterWrite) {
  wr(4, 0x08);
  wr(1, 0x02);  // enabling THRE interrupts with THR empty raises one
  EXPECT_TRUE(irq.high());
  EXPECT_EQ(rd(2) & 0x0f, 0x02);  // reading IIR clears it
  EXPECT_FALSE(irq.high());
  wr(0, 'x');
  EXPECT_TRUE(irq.high());
}

TEST_F(SerialTest, NoInterruptWithoutOut2) {
  wr(1, 0x01);
  uint8_t in[] = {'z'};
  uart.push_input(in);
  EXPECT_FALSE(irq.high());
}

TEST_F(SerialTest, DivisorLatchDoesNotTransmit) {
  wr(3, 0x80);
  wr(0, 0x01);
  wr(1, 0x00);
  EXPECT_EQ(rd(0), 0x01);
  wr(3, 0x03);
  EXPECT_TRUE(out.empty());
}

TEST_F(SerialTest, FifoAndScratchAsLinuxProbes) {
  wr(2, 0x01);  // enable FIFO
  EXPECT_EQ(rd(2) & 0xc0, 0xc0);  // 16550A
  wr(7, 0x5a);
  EXPECT_EQ(rd(7), 0x5a);
}

TEST_F(SerialTest, LoopbackEchoesAndMirrorsModemLines) {
  wr(4, 0x10 | 0x0a);  // loop, RTS, OUT2
  EXPECT_EQ(rd(6) & 0xf0, 0x90);  // CTS (from RTS) and DCD (from OUT2)
  wr(0, 'q');
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(rd(0), 'q');
}

TEST_F(SerialTest, InputBeyondCapacityIsRefusedNotLost) {
  std::vector<uint8_t> big(Serial::kRxCapacity + 10, 'k');
  EXPECT_EQ(uart.push_input(big), Serial::kRxCapacity);
  EXPECT_EQ(uart.input_space(), 0u);
  rd(0);
  EXPECT_EQ(uart.input_space(), 1u);
}

TEST_F(SerialTest, SavedStateRestoresRegistersFifoAndInterrupt) {
  wr(3, 0x03);  // 8N1
  wr(7, 0x5a);  // scratch
  wr(4, 0x08);
  wr(1, 0x01);
  std::string in = "abc";
  uart.push_input({reinterpret_cast<const uint8_t*>(in.data()), in.size()});
  EXPECT_EQ(rd(0), 'a');
  SerialState saved = uart.save();

  RecordingLine irq2;
  Serial copy([](uint8_t) {}, &irq2);
  copy.restore(saved);
  auto rd2 = [&](uint64_t reg) {
    uint8_t v = 0;
    copy.read(reg, {&v, 1});
    return v;
  };
  EXPECT_EQ(rd2(3), 0x03);
  EXPECT_EQ(rd2(7), 0x5a);
  EXPECT_TRUE(irq2.high()) << "the pending receive interrupt was not raised on the new line";
  EXPECT_EQ(rd2(0), 'b');
  EXPECT_EQ(rd2(0), 'c');
  EXPECT_EQ(rd2(5) & 0x01, 0) << "the FIFO held more than was saved";

  saved.version = 99;
  EXPECT_THROW(copy.restore(saved), Error);
  saved.version = SerialState::kVersion;
  saved.rx_len = Serial::kRxCapacity + 1;
  EXPECT_THROW(copy.restore(saved), Error);
}

}  // namespace
}  // namespace insula
