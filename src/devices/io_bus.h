// The I/O bus: dispatch of guest port-I/O and MMIO accesses to device models.
//
// A vCPU exit for an access at address A of width N finds the device whose
// range holds A and calls it with the offset into that range. Two buses exist
// per machine (port I/O and MMIO). Ranges can be added and removed while vCPUs
// run (PCI BARs move), so lookups take a shared lock.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <shared_mutex>
#include <span>
#include <string>

namespace insula {

// A device model reachable from the bus. Accesses come from vCPU threads,
// possibly several at once: implementations serialise their own state.
class BusDevice {
 public:
  virtual ~BusDevice() = default;
  // Fills data (1, 2, 4 or 8 bytes) for a read at offset into the range.
  virtual void read(uint64_t offset, std::span<uint8_t> data) = 0;
  virtual void write(uint64_t offset, std::span<const uint8_t> data) = 0;
};

class IoBus {
 public:
  // Maps [base, base+size) to device. Throws Error on overlap.
  void add(uint64_t base, uint64_t size, std::shared_ptr<BusDevice> device, std::string name = {});
  // Unmaps the range starting at base (no-op when none).
  void remove(uint64_t base);
  // Dispatches an access; false when no device claims the address (reads
  // then return all-ones, as unclaimed ISA/PCI space does).
  bool read(uint64_t addr, std::span<uint8_t> data) const;
  bool write(uint64_t addr, std::span<const uint8_t> data) const;

 private:
  struct Range {
    uint64_t size;
    std::shared_ptr<BusDevice> device;
    std::string name;
  };
  // Finds the device holding addr; copies the shared_ptr so the device
  // outlives a concurrent remove().
  std::shared_ptr<BusDevice> find(uint64_t addr, uint64_t& offset) const;

  mutable std::shared_mutex mu_;
  std::map<uint64_t, Range> ranges_;  // by base
};

}  // namespace insula
