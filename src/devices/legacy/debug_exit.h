// A debug-exit port compatible with QEMU's isa-debug-exit (iobase 0xf4,
// iosize 4): a write of value v ends the VM with exit status (v << 1) | 1.
#pragma once

#include <functional>

#include "devices/io_bus.h"

namespace insula {

class DebugExit : public BusDevice {
 public:
  static constexpr uint64_t kBase = 0xf4;
  static constexpr uint64_t kSize = 4;

  explicit DebugExit(std::function<void(uint32_t value)> on_exit) : on_exit_(std::move(on_exit)) {}
  void read(uint64_t, std::span<uint8_t> data) override {
    for (auto& b : data) b = 0xff;
  }
  void write(uint64_t, std::span<const uint8_t> data) override {
    uint32_t v = 0;
    for (size_t i = 0; i < data.size() && i < 4; ++i) v |= uint32_t{data[i]} << (8 * i);
    on_exit_(v);
  }

 private:
  std::function<void(uint32_t)> on_exit_;
};

}  // namespace insula
