// The i8042 keyboard controller with a PS/2 keyboard on its first port: the
// CPU reset line (command 0xFE), the controller commands Linux's i8042 driver
// probes with, and a keyboard that answers atkbd's commands (ID, LEDs,
// typematic, enable) so that the guest binds a keyboard driver — which is
// what lets the host send Ctrl-Alt-Del (Firecracker's SendCtrlAltDel) as
// scancodes on IRQ 1. The second (AUX, mouse) port is not wired: its enable
// and disable commands do nothing, which is how Linux tells it is absent.
#pragma once

#include <deque>
#include <functional>
#include <mutex>

#include "devices/interrupts.h"
#include "devices/io_bus.h"

namespace insula {

// What a snapshot keeps.
struct I8042State {
  static constexpr uint32_t kVersion = 2;
  uint32_t version = kVersion;
  uint8_t ctr = 0;
  uint8_t pending_cmd = 0;  // controller command waiting for its data byte
  uint8_t out_len = 0;
  uint8_t status_cmd = 0;   // status bit 3: the last write went to the command port
  uint8_t outp = 0;         // output port (bit 0 = reset line, bit 1 = A20)
  uint8_t kbd_pending = 0;  // keyboard command waiting for its parameter
  uint8_t kbd_scanning = 0;
  uint8_t irq_level = 0;
  uint16_t out_aux = 0;      // bit i: out[i] came from the AUX port
  uint8_t out[16] = {};      // the output buffer
  uint8_t reserved[6] = {};  // explicit padding: the struct is copied byte for byte
};

class I8042 : public BusDevice {
 public:
  static constexpr uint64_t kBase = 0x60;  // data 0x60, status/command 0x64
  static constexpr uint64_t kSize = 5;
  static constexpr uint32_t kKbdIrq = 1;
  static constexpr size_t kOutCapacity = sizeof(I8042State::out);

  // kbd_irq (ISA IRQ 1, edge) may be null: the guest then polls.
  explicit I8042(std::function<void()> on_reset, IrqLine* kbd_irq = nullptr)
      : on_reset_(std::move(on_reset)), irq_(kbd_irq) {}
  void read(uint64_t offset, std::span<uint8_t> data) override;
  void write(uint64_t offset, std::span<const uint8_t> data) override;

  // The keyboard types Ctrl-Alt-Del (make and break codes, in scancode set 2,
  // or set 1 when the guest turned on the controller's translation) and
  // raises IRQ 1. False when the output buffer has no room for it (the guest
  // is not reading its keyboard); nothing is queued then.
  bool send_ctrl_alt_del();

  I8042State save();
  void restore(const I8042State& s);  // throws Error on an unknown version

 private:
  struct Byte {
    uint8_t value;
    bool aux;
  };
  void controller_command(uint8_t cmd, bool& reset);
  void controller_data(uint8_t v, bool& reset);
  void keyboard_byte(uint8_t v);
  void push(uint8_t v, bool aux = false);
  void update_irq();  // mu_ held

  std::function<void()> on_reset_;
  IrqLine* irq_;
  std::mutex mu_;
  std::deque<Byte> out_;     // bytes for the guest at 0x60
  uint8_t ctr_ = 0x30;       // both ports disabled, no interrupts, no translation
  uint8_t pending_cmd_ = 0;  // a controller command waiting for its data byte
  bool status_cmd_ = true;
  uint8_t outp_ = 0x03;      // reset line not asserted, A20 on
  uint8_t kbd_pending_ = 0;  // a keyboard command waiting for its parameter
  bool kbd_scanning_ = true;
  bool irq_level_ = false;
};

}  // namespace insula
