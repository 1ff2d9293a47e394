// 16550A UART model.
#include "devices/legacy/serial.h"

#include <algorithm>

#include "base/error.h"

namespace insula {

namespace {

enum Reg : uint64_t { kData = 0, kIer = 1, kIir = 2, kLcr = 3, kMcr = 4, kLsr = 5, kMsr = 6, kScr = 7 };
constexpr uint8_t kLcrDlab = 0x80;
constexpr uint8_t kIerRda = 0x01, kIerThre = 0x02;
constexpr uint8_t kIirNone = 0x01, kIirThre = 0x02, kIirRda = 0x04, kIirFifo = 0xc0;
constexpr uint8_t kLsrDr = 0x01, kLsrThre = 0x20, kLsrTemt = 0x40;
constexpr uint8_t kMcrLoop = 0x10, kMcrOut2 = 0x08;
constexpr uint8_t kFcrEnable = 0x01, kFcrClearRx = 0x02;

}  // namespace

Serial::Serial(std::function<void(uint8_t)> out, IrqLine* irq) : out_(std::move(out)), irq_(irq) {}

void Serial::read(uint64_t offset, std::span<uint8_t> data) {
  std::lock_guard lock(mu_);
  for (size_t i = 0; i < data.size(); ++i) data[i] = read_reg(offset + i);
  update_irq();
}

void Serial::write(uint64_t offset, std::span<const uint8_t> data) {
  std::lock_guard lock(mu_);
  for (size_t i = 0; i < data.size(); ++i) write_reg(offset + i, data[i]);
  update_irq();
}

uint8_t Serial::read_reg(uint64_t reg) {
  switch (reg) {
    case kData:
      if (lcr_ & kLcrDlab) return dll_;
      if (rx_.empty()) return 0;
      {
        uint8_t b = rx_.front();
        rx_.pop_front();
        return b;
      }
    case kIer: return (lcr_ & kLcrDlab) ? dlm_ : ier_;
    case kIir: {
      uint8_t fifo = (fcr_ & kFcrEnable) ? kIirFifo : 0;
      if ((ier_ & kIerRda) && !rx_.empty()) return fifo | kIirRda;
      if ((ier_ & kIerThre) && thr_interrupt_) {
        thr_interrupt_ = false;  // reading IIR with THRE as the source clears it
        return fifo | kIirThre;
      }
      return fifo | kIirNone;
    }
    case kLcr: return lcr_;
    case kMcr: return mcr_;
    case kLsr: return (rx_.empty() ? 0 : kLsrDr) | kLsrThre | kLsrTemt;
    case kMsr:
      if (mcr_ & kMcrLoop) {
        // Loopback: DTR->DSR, RTS->CTS, OUT1->RI, OUT2->DCD.
        return static_cast<uint8_t>(((mcr_ & 0x01) << 5) | ((mcr_ & 0x02) << 3) | ((mcr_ & 0x04) << 4) |
                                    ((mcr_ & 0x08) << 4));
      }
      return 0xb0;  // DCD, DSR, CTS: a connected terminal
    case kScr: return scr_;
  }
  return 0xff;
}

void Serial::write_reg(uint64_t reg, uint8_t v) {
  switch (reg) {
    case kData:
      if (lcr_ & kLcrDlab) {
        dll_ = v;
        return;
      }
      if (mcr_ & kMcrLoop) {
        if (rx_.size() < kRxCapacity) rx_.push_back(v);
      } else {
        out_(v);
      }
      thr_interrupt_ = true;  // transmission is instant: THR is empty again
      return;
    case kIer:
      if (lcr_ & kLcrDlab) {
        dlm_ = v;
        return;
      }
      // Enabling THRE interrupts while THR is empty raises one at once.
      if (!(ier_ & kIerThre) && (v & kIerThre)) thr_interrupt_ = true;
      ier_ = v & 0x0f;
      return;
    case kIir:  // FCR on write
      fcr_ = v & 0xc9;
      if (v & kFcrClearRx) rx_.clear();
      return;
    case kLcr: lcr_ = v; return;
    case kMcr: mcr_ = v & 0x1f; return;
    case kScr: scr_ = v; return;
    default: return;  // LSR/MSR are read-only
  }
}

void Serial::update_irq() {
  bool pending = ((ier_ & kIerRda) && !rx_.empty()) || ((ier_ & kIerThre) && thr_interrupt_);
  // OUT2 gates the interrupt line on PC UARTs; Linux sets it.
  bool level = pending && (mcr_ & kMcrOut2);
  if (irq_ && level != irq_level_) irq_->set_level(level);
  irq_level_ = level;
}

size_t Serial::push_input(std::span<const uint8_t> bytes) {
  std::lock_guard lock(mu_);
  size_t n = std::min(bytes.size(), kRxCapacity - rx_.size());
  rx_.insert(rx_.end(), bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(n));
  update_irq();
  return n;
}

SerialState Serial::save() const {
  static_assert(sizeof(SerialState::rx) == kRxCapacity);
  std::lock_guard lock(mu_);
  SerialState s;
  s.ier = ier_, s.lcr = lcr_, s.mcr = mcr_, s.scr = scr_, s.fcr = fcr_, s.dll = dll_, s.dlm = dlm_;
  s.thr_interrupt = thr_interrupt_;
  s.irq_level = irq_level_;
  s.rx_len = static_cast<uint32_t>(rx_.size());
  std::copy(rx_.begin(), rx_.end(), s.rx);
  return s;
}

void Serial::restore(const SerialState& s) {
  if (s.version != SerialState::kVersion)
    throw error("serial state version {} is not supported (expected {})", s.version, SerialState::kVersion);
  if (s.rx_len > kRxCapacity) throw error("serial state: receive FIFO length {} is over {}", s.rx_len, kRxCapacity);
  std::lock_guard lock(mu_);
  ier_ = s.ier, lcr_ = s.lcr, mcr_ = s.mcr, scr_ = s.scr, fcr_ = s.fcr, dll_ = s.dll, dlm_ = s.dlm;
  thr_interrupt_ = s.thr_interrupt;
  rx_.assign(s.rx, s.rx + s.rx_len);
  // KVM's per-source line level is not part of the irqchip state: drive the
  // line again from low, so a pending interrupt is raised on the new machine.
  irq_level_ = false;
  update_irq();
}

size_t Serial::input_space() const {
  std::lock_guard lock(mu_);
  return kRxCapacity - rx_.size();
}

}  // namespace insula
