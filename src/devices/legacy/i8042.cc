// i8042 model: reset line and a quiet controller.
#include "devices/legacy/i8042.h"

#include <algorithm>

#include "base/error.h"

namespace insula {

void I8042::read(uint64_t offset, std::span<uint8_t> data) {
  std::lock_guard lock(mu_);
  uint8_t v = 0xff;
  if (offset == 0) {
    v = 0;
    if (!out_.empty()) {
      v = out_.front();
      out_.pop_front();
    }
  } else if (offset == 4) {
    v = 0x14 | (out_.empty() ? 0 : 0x01);  // system flag, last write was a command, OBF
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
      pending_cmd_ = 0;
      switch (v) {
        case 0x20: out_.push_back(ctr_); break;  // read controller configuration
        case 0x60: pending_cmd_ = v; break;       // write it (data follows)
        case 0xaa: out_.push_back(0x55); break;   // self test passed
        case 0xab: out_.push_back(0x00); break;   // port 1 test passed
        case 0xa9: out_.push_back(0xff); break;   // port 2 absent
        case 0xd1: pending_cmd_ = v; break;       // write output port
        case 0xfe: reset = true; break;           // pulse the reset line
        default: break;                           // enable/disable ports etc.
      }
    } else if (offset == 0) {
      if (pending_cmd_ == 0x60) ctr_ = v;
      else if (pending_cmd_ == 0xd1 && !(v & 0x01)) reset = true;  // bit 0 = CPU reset (active low)
      else if (pending_cmd_ == 0) out_.push_back(0xfe);             // no device: resend
      pending_cmd_ = 0;
    }
  }
  if (reset) on_reset_();
}

I8042State I8042::save() {
  std::lock_guard lock(mu_);
  I8042State s;
  s.ctr = ctr_;
  s.pending_cmd = pending_cmd_;
  s.out_len = static_cast<uint8_t>(std::min<size_t>(out_.size(), sizeof s.out));
  std::copy_n(out_.begin(), s.out_len, s.out);
  return s;
}

void I8042::restore(const I8042State& s) {
  if (s.version != I8042State::kVersion)
    throw error("i8042 state version {} is not supported (expected {})", s.version, I8042State::kVersion);
  if (s.out_len > sizeof s.out) throw error("i8042 state: output buffer length {} is too big", s.out_len);
  std::lock_guard lock(mu_);
  ctr_ = s.ctr;
  pending_cmd_ = s.pending_cmd;
  out_.assign(s.out, s.out + s.out_len);
}

}  // namespace insula
