// Guest memory for table tests: the first MiB of guest-physical space in a
// plain buffer, so the BIOS area the builders write to is present.
#pragma once

#include <cstdint>
#include <cstring>
#include <vector>

#include "base/guest_memory.h"

namespace insula::x86::test {

class FakeMemory {
 public:
  explicit FakeMemory(uint64_t size = 1 << 20) : buf_(size, 0xAA), mem_({{0, size, buf_.data()}}) {}
  const GuestMemory& mem() const { return mem_; }
  const uint8_t* at(uint64_t gpa) const { return buf_.data() + gpa; }
  uint32_t u32(uint64_t gpa) const {
    uint32_t v;
    std::memcpy(&v, at(gpa), 4);
    return v;
  }
  uint64_t u64(uint64_t gpa) const {
    uint64_t v;
    std::memcpy(&v, at(gpa), 8);
    return v;
  }
  uint16_t u16(uint64_t gpa) const {
    uint16_t v;
    std::memcpy(&v, at(gpa), 2);
    return v;
  }
  std::vector<uint8_t> bytes(uint64_t gpa, size_t len) const { return {at(gpa), at(gpa) + len}; }

 private:
  std::vector<uint8_t> buf_;
  GuestMemory mem_;
};

}  // namespace insula::x86::test
