// i8042 model: reset line, controller commands, and a PS/2 keyboard that
// answers probing and types Ctrl-Alt-Del.
#include "devices/legacy/i8042.h"

#include <algorithm>
#include <array>

#include "base/error.h"

namespace insula {

namespace {

// Status register bits.
constexpr uint8_t kStsOutputFull = 0x01;
constexpr uint8_t kStsSystem = 0x04;       // self test passed
constexpr uint8_t kStsCommand = 0x08;      // last write was to the command port
constexpr uint8_t kStsUnlocked = 0x10;     // keyboard not inhibited
constexpr uint8_t kStsAuxData = 0x20;      // the output byte is from the AUX port

// Controller configuration byte (CTR) bits.
constexpr uint8_t kCtrKbdInt = 0x01;
constexpr uint8_t kCtrKbdDisabled = 0x10;
constexpr uint8_t kCtrTranslate = 0x40;

// Keyboard answers.
constexpr uint8_t kKbdAck = 0xfa;
constexpr uint8_t kKbdResend = 0xfe;
constexpr uint8_t kKbdSelfTestOk = 0xaa;

// Ctrl, Alt, Del pressed, then released in reverse order.
constexpr std::array<uint8_t, 11> kCtrlAltDelSet2 = {0x14, 0x11, 0xe0, 0x71, 0xe0, 0xf0, 0x71, 0xf0, 0x11, 0xf0, 0x14};
constexpr std::array<uint8_t, 8> kCtrlAltDelSet1 = {0x1d, 0x38, 0xe0, 0x53, 0xe0, 0xd3, 0xb8, 0x9d};

static_assert(sizeof(I8042State) == 36, "I8042State is copied byte for byte: keep it free of implicit padding");

}  // namespace

void I8042::read(uint64_t offset, std::span<uint8_t> data) {
  std::lock_guard lock(mu_);
  uint8_t v = 0xff;
  if (offset == 0) {
    v = 0;
    if (!out_.empty()) {
      v = out_.front().value;
      out_.pop_front();
    }
    // Every byte is its own edge on IRQ 1: drop the line, raise it again
    // below if another keyboard byte waits.
    if (irq_level_ && irq_) irq_->set_level(false);
    irq_level_ = false;
    update_irq();
  } else if (offset == 4) {
    v = kStsSystem | kStsUnlocked | (status_cmd_ ? kStsCommand : 0);
    if (!out_.empty()) v |= kStsOutputFull | (out_.front().aux ? kStsAuxData : 0);
  }
  for (auto& b : data) b = v;
}

void I8042::write(uint64_t offset, std::span<const uint8_t> data) {
  if (data.empty()) return;
  uint8_t v = data[0];
  bool reset = false;
  {
    std::lock_guard lock(mu_);
    if (offset == 4) {
      status_cmd_ = true;
      controller_command(v, reset);
    } else if (offset == 0) {
      status_cmd_ = false;
      controller_data(v, reset);
    }
    update_irq();
  }
  if (reset) on_reset_();
}

void I8042::controller_command(uint8_t cmd, bool& reset) {
  pending_cmd_ = 0;
  switch (cmd) {
    case 0x20: push(ctr_); break;                   // read the configuration byte
    case 0x60:                                      // write it (data follows)
    case 0xd1:                                      // write the output port
    case 0xd2:                                      // put a byte in the output buffer as if from the keyboard
    case 0xd3:                                      // ... as if from the AUX port (Linux's loop test)
    case 0xd4: pending_cmd_ = cmd; break;           // send a byte to the AUX device
    case 0xa7: case 0xa8: break;                    // AUX disable/enable: no AUX port wired
    case 0xa9: push(0xff); break;                   // AUX interface test: general error
    case 0xaa: push(0x55); break;                   // self test passed
    case 0xab: push(0x00); break;                   // keyboard interface test passed
    case 0xad: ctr_ |= kCtrKbdDisabled; break;      // disable the keyboard
    case 0xae: ctr_ &= ~kCtrKbdDisabled; break;     // enable it
    case 0xd0: push(outp_); break;                  // read the output port
    case 0xfe: reset = true; break;                 // pulse the reset line
    default: break;
  }
}

void I8042::controller_data(uint8_t v, bool& reset) {
  uint8_t cmd = pending_cmd_;
  pending_cmd_ = 0;
  switch (cmd) {
    case 0x60: ctr_ = v; break;
    case 0xd1:
      outp_ = v;
      if (!(v & 0x01)) reset = true;  // bit 0 is the CPU reset line, active low
      break;
    case 0xd2: push(v); break;
    case 0xd3: push(v, true); break;
    case 0xd4: break;  // nothing on the AUX port hears it
    default:
      // Writing the data port talks to the keyboard, and enables it.
      ctr_ &= ~kCtrKbdDisabled;
      keyboard_byte(v);
      break;
  }
}

// A PS/2 keyboard: every command is acknowledged (0xFA), commands with a
// parameter acknowledge that too; unknown ones ask for a resend, as real
// keyboards do.
void I8042::keyboard_byte(uint8_t v) {
  uint8_t cmd = kbd_pending_;
  kbd_pending_ = 0;
  if (cmd != 0) {
    push(kKbdAck);
    if (cmd == 0xf0 && v == 0) push(0x02);  // "which scancode set?": set 2
    return;
  }
  switch (v) {
    case 0xed:  // set LEDs
    case 0xf0:  // select scancode set (only set 2 exists here)
    case 0xf3:  // typematic rate
      push(kKbdAck);
      kbd_pending_ = v;
      break;
    case 0xee: push(0xee); break;  // echo
    case 0xf2:                     // identify: an MF2 keyboard
      push(kKbdAck);
      push(0xab);
      push(ctr_ & kCtrTranslate ? 0x41 : 0x83);
      break;
    case 0xf4:  // enable scanning
    case 0xf5:  // disable scanning, defaults
      push(kKbdAck);
      kbd_scanning_ = v == 0xf4;
      break;
    case 0xf6:                                               // defaults
    case 0xf7: case 0xf8: case 0xf9: case 0xfa: case 0xfb: case 0xfc: case 0xfd:  // set-3 key types
      push(kKbdAck);
      break;
    case 0xfe: push(kKbdAck); break;  // resend: nothing was lost
    case 0xff:                        // reset and self test
      push(kKbdAck);
      push(kKbdSelfTestOk);
      kbd_scanning_ = true;
      break;
    default: push(kKbdResend); break;
  }
}

bool I8042::send_ctrl_alt_del() {
  std::lock_guard lock(mu_);
  std::span<const uint8_t> seq = kCtrlAltDelSet2;
  if (ctr_ & kCtrTranslate) seq = kCtrlAltDelSet1;
  if (out_.size() + seq.size() > kOutCapacity) return false;
  for (uint8_t b : seq) push(b);
  update_irq();
  return true;
}

void I8042::push(uint8_t v, bool aux) {
  if (out_.size() < kOutCapacity) out_.push_back({v, aux});
}

void I8042::update_irq() {
  bool level = !out_.empty() && !out_.front().aux && (ctr_ & kCtrKbdInt);
  if (irq_ && level != irq_level_) irq_->set_level(level);
  irq_level_ = level;
}

I8042State I8042::save() {
  std::lock_guard lock(mu_);
  I8042State s;
  s.ctr = ctr_;
  s.pending_cmd = pending_cmd_;
  s.status_cmd = status_cmd_;
  s.outp = outp_;
  s.kbd_pending = kbd_pending_;
  s.kbd_scanning = kbd_scanning_;
  s.irq_level = irq_level_;
  s.out_len = static_cast<uint8_t>(out_.size());
  for (size_t i = 0; i < out_.size(); ++i) {
    s.out[i] = out_[i].value;
    if (out_[i].aux) s.out_aux |= static_cast<uint16_t>(1u << i);
  }
  return s;
}

void I8042::restore(const I8042State& s) {
  if (s.version != I8042State::kVersion)
    throw error("i8042 state version {} is not supported (expected {})", s.version, I8042State::kVersion);
  if (s.out_len > sizeof s.out) throw error("i8042 state: output buffer length {} is too big", s.out_len);
  std::lock_guard lock(mu_);
  ctr_ = s.ctr;
  pending_cmd_ = s.pending_cmd;
  status_cmd_ = s.status_cmd != 0;
  outp_ = s.outp;
  kbd_pending_ = s.kbd_pending;
  kbd_scanning_ = s.kbd_scanning != 0;
  out_.clear();
  for (size_t i = 0; i < s.out_len; ++i) out_.push_back({s.out[i], ((s.out_aux >> i) & 1) != 0});
  // The restored interrupt controllers already hold what the saved level
  // delivered; drive the line to match it again.
  irq_level_ = false;
  if (s.irq_level && irq_) irq_->set_level(true);
  irq_level_ = s.irq_level != 0;
}

}  // namespace insula
