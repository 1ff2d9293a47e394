// A 16550A UART (COM1 at 0x3f8, IRQ 4): the guest console.
//
// Interrupt driven (receive-data and transmitter-empty interrupts through
// IER/IIR) and correct for polling guests (LSR.DR, THRE, TEMT), with the
// FIFO and loopback behaviour Linux's 8250 driver probes for.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <span>

#include "devices/interrupts.h"
#include "devices/io_bus.h"

namespace insula {

// What a snapshot keeps: every register, the receive FIFO and the interrupt
// state (the THRE interrupt and the level last driven on the IRQ line).
struct SerialState {
  static constexpr uint32_t kVersion = 1;
  uint32_t version = kVersion;
  uint8_t ier = 0, lcr = 0, mcr = 0, scr = 0, fcr = 0, dll = 0, dlm = 0;
  uint8_t thr_interrupt = 0;
  uint8_t irq_level = 0;
  uint32_t rx_len = 0;
  uint8_t rx[4096] = {};
};

class Serial : public BusDevice {
 public:
  static constexpr uint64_t kCom1Base = 0x3f8;
  static constexpr uint64_t kCom1Irq = 4;
  static constexpr size_t kRxCapacity = 4096;

  // out receives every byte the guest transmits; irq may be null (polling).
  Serial(std::function<void(uint8_t)> out, IrqLine* irq);

  void read(uint64_t offset, std::span<uint8_t> data) override;
  void write(uint64_t offset, std::span<const uint8_t> data) override;

  // Host -> guest bytes. Returns how many were accepted (the rest would
  // overflow the receive buffer: the caller retries later).
  size_t push_input(std::span<const uint8_t> bytes);
  size_t input_space() const;

  SerialState save() const;
  // Throws Error on an unknown version or a bad FIFO length.
  void restore(const SerialState& s);

 private:
  uint8_t read_reg(uint64_t reg);
  void write_reg(uint64_t reg, uint8_t v);
  void update_irq();  // mu_ held

  std::function<void(uint8_t)> out_;
  IrqLine* irq_;
  mutable std::mutex mu_;
  std::deque<uint8_t> rx_;
  uint8_t ier_ = 0, lcr_ = 0, mcr_ = 0, scr_ = 0, fcr_ = 0;
  uint8_t dll_ = 0x0c, dlm_ = 0;  // 9600 baud
  bool thr_interrupt_ = false;     // THRE interrupt pending (cleared by IIR read / THR write)
  bool irq_level_ = false;
};

}  // namespace insula
