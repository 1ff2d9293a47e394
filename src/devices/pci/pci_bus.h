// PciBus: PCI bus 0 with a host bridge at device 0, the two config access
// mechanisms (type-1 ports 0xCF8-0xCFF and an ECAM window) and BAR placement
// from the machine's MMIO windows.
//
// Only bus 0 and function 0 of each device exist; accesses elsewhere read as
// all-ones (no device) and writes are dropped, as on real hardware.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "devices/io_bus.h"
#include "devices/pci/pci_function.h"

namespace insula::pci {

inline constexpr int kMaxDevices = 32;
inline constexpr uint64_t kConfigIoBase = 0xcf8;  // type-1 mechanism
inline constexpr uint64_t kConfigIoSize = 8;
inline constexpr uint64_t kEcamBusSize = 1ull << 20;  // ECAM window for bus 0

// The host bridge: a bare function with class 06/00 and no BARs.
class PciHostBridge : public PciFunction {
 public:
  PciHostBridge();
  void bar_read(int, uint64_t, std::span<uint8_t> data) override { std::fill(data.begin(), data.end(), 0xff); }
  void bar_write(int, uint64_t, std::span<const uint8_t>) override {}
};

// An address window BARs are placed in.
struct MmioWindow {
  uint64_t base = 0;
  uint64_t size = 0;
};

class PciBus {
 public:
  PciBus();

  // Puts function at the first free device number (1..31) and returns it.
  int add(std::shared_ptr<PciFunction> function);
  std::shared_ptr<PciFunction> function(int device) const;

  // Gives every BAR of every function an address: 32-bit BARs from
  // window32 (below 4 GiB), 64-bit BARs from window64 when it is non-empty
  // (else from window32). Largest first, naturally aligned. Throws when a
  // window is full. Memory decode stays off until the guest (or
  // enable_all()) sets the command register.
  void allocate_bars(const MmioWindow& window32, const MmioWindow& window64);
  // Sets memory decode + bus master on every function (for guests that do
  // not enumerate PCI themselves); BAR listeners fire.
  void enable_all();

  // Every function reports BAR moves here.
  void set_bar_listener(PciBarListener* listener);

  // Config access by (device, register), as both mechanisms decode it.
  void config_read(int device, int function, uint32_t reg, std::span<uint8_t> data) const;
  void config_write(int device, int function, uint32_t reg, std::span<const uint8_t> data);

  // BusDevices for the machine: at I/O port kConfigIoBase (size
  // kConfigIoSize) and at the ECAM base on the MMIO bus (size kEcamBusSize).
  std::shared_ptr<BusDevice> config_io();
  std::shared_ptr<BusDevice> ecam();

 private:
  mutable std::mutex mu_;
  std::array<std::shared_ptr<PciFunction>, kMaxDevices> devices_;
  PciBarListener* listener_ = nullptr;
};

}  // namespace insula::pci
