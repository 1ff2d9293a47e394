// The CMOS real-time clock (ports 0x70/0x71): the host's current UTC time in
// BCD or binary as register B asks, plus the memory-size bytes firmware and
// old kernels read from CMOS.
#pragma once

#include <array>
#include <cstdint>
#include <mutex>

#include "devices/io_bus.h"

namespace insula {

// What a snapshot keeps: the index register and CMOS RAM (the time itself
// is the host's, read on every access).
struct RtcState {
  static constexpr uint32_t kVersion = 1;
  uint32_t version = kVersion;
  uint8_t index = 0;
  uint8_t cmos[128] = {};
};

class Rtc : public BusDevice {
 public:
  static constexpr uint64_t kBase = 0x70;
  static constexpr uint64_t kSize = 2;

  // lowmem/highmem: RAM below 4 GiB (from 0) and above 4 GiB, for CMOS bytes.
  Rtc(uint64_t lowmem, uint64_t highmem);
  void read(uint64_t offset, std::span<uint8_t> data) override;
  void write(uint64_t offset, std::span<const uint8_t> data) override;

  RtcState save();
  void restore(const RtcState& s);  // throws Error on an unknown version

 private:
  uint8_t read_register(uint8_t index);

  std::mutex mu_;
  uint8_t index_ = 0;
  std::array<uint8_t, 128> cmos_{};
};

}  // namespace insula
