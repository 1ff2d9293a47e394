// The i8042 keyboard controller, reduced to what guests use it for here:
// the CPU reset line (command 0xFE), plus enough of the command set that
// probing drivers see a controller with nothing attached.
#pragma once

#include <deque>
#include <functional>
#include <mutex>

#include "devices/io_bus.h"

namespace insula {

// What a snapshot keeps.
struct I8042State {
  static constexpr uint32_t kVersion = 1;
  uint32_t version = kVersion;
  uint8_t ctr = 0;
  uint8_t pending_cmd = 0;
  uint8_t out_len = 0;
  uint8_t out[16] = {};  // the output buffer never holds more than a few bytes
};

class I8042 : public BusDevice {
 public:
  static constexpr uint64_t kBase = 0x60;  // data 0x60, status/command 0x64
  static constexpr uint64_t kSize = 5;

  explicit I8042(std::function<void()> on_reset) : on_reset_(std::move(on_reset)) {}
  void read(uint64_t offset, std::span<uint8_t> data) override;
  void write(uint64_t offset, std::span<const uint8_t> data) override;

  I8042State save();
  void restore(const I8042State& s);  // throws Error on an unknown version

 private:
  std::function<void()> on_reset_;
  std::mutex mu_;
  std::deque<uint8_t> out_;  // bytes for the guest at 0x60
  uint8_t ctr_ = 0x30;       // both ports disabled, no interrupts
  uint8_t pending_cmd_ = 0;  // a command waiting for its data byte
};

}  // namespace insula
