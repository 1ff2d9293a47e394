// The read-only I/O-port interface of QEMU's fw_cfg (selector at 0x510,
// 16-bit; data at 0x511, 8-bit), so existing test kernels and firmware find
// the signature, the CPU count and the RAM size. No DMA interface.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <vector>

#include "devices/io_bus.h"

namespace insula {

// What a snapshot keeps: where the guest is in its read (the items are
// rebuilt from the machine config).
struct FwCfgState {
  static constexpr uint32_t kVersion = 1;
  uint32_t version = kVersion;
  uint16_t selector = 0;
  uint64_t pos = 0;
};

class FwCfg : public BusDevice {
 public:
  static constexpr uint64_t kBase = 0x510;
  static constexpr uint64_t kSize = 2;
  enum Key : uint16_t { kSignature = 0x00, kId = 0x01, kRamSize = 0x03, kNbCpus = 0x05, kMaxCpus = 0x0f, kFileDir = 0x19 };

  FwCfg(uint32_t cpus, uint64_t ram_size);
  void read(uint64_t offset, std::span<uint8_t> data) override;
  void write(uint64_t offset, std::span<const uint8_t> data) override;

  FwCfgState save();
  void restore(const FwCfgState& s);  // throws Error on an unknown version

 private:
  std::map<uint16_t, std::vector<uint8_t>> items_;
  std::mutex mu_;
  uint16_t selector_ = 0;
  size_t pos_ = 0;
};

}  // namespace insula
