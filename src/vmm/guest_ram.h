// GuestRam: the host memory that backs guest RAM, and its place in the
// guest-physical map (RAM below the PCI hole, the rest from 4 GiB).
#pragma once

#include <cstdint>
#include <string>

#include "base/guest_memory.h"

namespace insula::vmm {

class GuestRam {
 public:
  // Reserves `size` bytes (lazily allocated, MAP_NORESERVE). Throws a clear
  // Error when size is zero, too small to boot, or more than the host has.
  GuestRam(uint64_t size, uint64_t hole_start);
  // Guest RAM from a snapshot's memory file, mapped copy-on-write
  // (MAP_PRIVATE): pages load on first touch, so restoring costs the same
  // for any guest size, and the guest's writes never reach the file.
  GuestRam(uint64_t size, uint64_t hole_start, const std::string& memory_file);
  // The same, for RAM made anonymous first (a PreparedVm's, already known to
  // KVM): the file is mapped over it at the same address, nothing touched.
  void map_file(const std::string& memory_file);
  ~GuestRam();
  GuestRam(const GuestRam&) = delete;
  GuestRam& operator=(const GuestRam&) = delete;

  uint64_t size() const { return size_; }
  uint64_t lowmem_size() const { return low_; }    // RAM from 0
  uint64_t highmem_size() const { return size_ - low_; }  // RAM from 4 GiB
  uint8_t* host() const { return host_; }
  // Writes all of guest RAM to path (through path.tmp, fsynced, renamed),
  // as a sparse file: pages that are all zero stay holes.
  void save(const std::string& path) const;
  const GuestMemory& memory() const { return memory_; }

 private:
  uint64_t size_;
  uint64_t low_;
  void check_size(uint64_t size) const;
  void map(int fd);  // fd -1: anonymous memory
  int open_memory_file(const std::string& memory_file) const;  // checked against size_

  uint8_t* host_ = nullptr;
  bool file_backed_ = false;
  GuestMemory memory_;
};

}  // namespace insula::vmm
