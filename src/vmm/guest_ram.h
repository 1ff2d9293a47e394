// GuestRam: the host memory that backs guest RAM, and its place in the
// guest-physical map (RAM below the PCI hole, the rest from 4 GiB).
#pragma once

#include <cstdint>

#include "base/guest_memory.h"

namespace insula::vmm {

class GuestRam {
 public:
  // Reserves `size` bytes (lazily allocated, MAP_NORESERVE). Throws a clear
  // Error when size is zero, too small to boot, or more than the host has.
  GuestRam(uint64_t size, uint64_t hole_start);
  ~GuestRam();
  GuestRam(const GuestRam&) = delete;
  GuestRam& operator=(const GuestRam&) = delete;

  uint64_t size() const { return size_; }
  uint64_t lowmem_size() const { return low_; }    // RAM from 0
  uint64_t highmem_size() const { return size_ - low_; }  // RAM from 4 GiB
  uint8_t* host() const { return host_; }
  const GuestMemory& memory() const { return memory_; }

 private:
  uint64_t size_;
  uint64_t low_;
  uint8_t* host_ = nullptr;
  GuestMemory memory_;
};

}  // namespace insula::vmm
