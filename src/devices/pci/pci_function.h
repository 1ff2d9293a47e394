// PciFunction: the configuration space of one PCI function (type 0 header),
// its capability list and memory BARs, and the BAR-to-device dispatch.
//
// Config space is modelled as bytes plus a per-byte write mask: BAR size
// probing (write all-ones, read back ~(size-1)|flags) then falls out of the
// mask, as on real hardware. Only memory BARs exist (32- or 64-bit); virtio
// and MSI-X need nothing else. Device models subclass this and implement
// bar_read/bar_write; the machine maps each BAR on its MMIO bus through a
// PciBarRegion and follows moves through PciBarListener.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "devices/io_bus.h"

namespace insula::pci {

inline constexpr size_t kConfigSize = 4096;  // PCIe (ECAM) config space
inline constexpr int kNumBars = 6;

// Standard type 0 header offsets and bits (PCI Local Bus 3.0, 6.1).
inline constexpr uint16_t kVendorId = 0x00;
inline constexpr uint16_t kDeviceId = 0x02;
inline constexpr uint16_t kCommand = 0x04;
inline constexpr uint16_t kStatus = 0x06;
inline constexpr uint16_t kRevision = 0x08;
inline constexpr uint16_t kClassProgIf = 0x09;
inline constexpr uint16_t kHeaderType = 0x0e;
inline constexpr uint16_t kBar0 = 0x10;
inline constexpr uint16_t kSubsystemVendorId = 0x2c;
inline constexpr uint16_t kSubsystemId = 0x2e;
inline constexpr uint16_t kCapPointer = 0x34;
inline constexpr uint16_t kInterruptLine = 0x3c;
inline constexpr uint16_t kInterruptPin = 0x3d;

inline constexpr uint16_t kCommandIo = 1 << 0;
inline constexpr uint16_t kCommandMemory = 1 << 1;
inline constexpr uint16_t kCommandBusMaster = 1 << 2;
inline constexpr uint16_t kCommandIntxDisable = 1 << 10;
inline constexpr uint16_t kStatusIntx = 1 << 3;
inline constexpr uint16_t kStatusCapList = 1 << 4;

inline constexpr uint8_t kCapIdMsix = 0x11;
inline constexpr uint8_t kCapIdVendor = 0x09;

class PciFunction;

// Where a BAR is decoded on the MMIO bus; nullopt when it is not decoded.
struct BarMapping {
  uint64_t address = 0;
  uint64_t size = 0;
};

// Told when a BAR starts or stops being decoded, or moves. The machine
// removes the old range from its MMIO bus (and deassigns ioeventfds there)
// and adds the new one. Called from the vCPU thread doing the config write,
// with no lock of the function held.
class PciBarListener {
 public:
  virtual ~PciBarListener() = default;
  virtual void bar_changed(PciFunction& function, int bar, std::optional<BarMapping> old_mapping,
                           std::optional<BarMapping> new_mapping) = 0;
};

struct PciIds {
  uint16_t vendor = 0;
  uint16_t device = 0;
  uint8_t revision = 0;
  uint32_t class_code = 0;  // class << 16 | subclass << 8 | prog-if
  uint16_t subsystem_vendor = 0;
  uint16_t subsystem = 0;
};

class PciFunction : public std::enable_shared_from_this<PciFunction> {
 public:
  explicit PciFunction(const PciIds& ids, std::string name);
  virtual ~PciFunction() = default;
  PciFunction(const PciFunction&) = delete;
  PciFunction& operator=(const PciFunction&) = delete;

  const std::string& name() const { return name_; }

  // Config space access (offset < kConfigSize; 1, 2 or 4 bytes, naturally
  // aligned or not: any byte run that fits). Out-of-range bytes read as 0xff.
  void config_read(uint32_t offset, std::span<uint8_t> data);
  void config_write(uint32_t offset, std::span<const uint8_t> data);

  // BAR contents, for the device model. offset is into the BAR.
  virtual void bar_read(int bar, uint64_t offset, std::span<uint8_t> data) = 0;
  virtual void bar_write(int bar, uint64_t offset, std::span<const uint8_t> data) = 0;

  // Setup (before the guest runs). size is a power of two >= 4 KiB.
  void add_memory_bar(int bar, uint64_t size, bool is_64bit, bool prefetchable = false);
  // Appends a capability; body excludes the two-byte id/next header. The
  // bytes set in writable_mask (same length as body) are guest-writable.
  // Returns the capability's config offset.
  uint16_t add_capability(uint8_t id, std::span<const uint8_t> body, std::span<const uint8_t> writable_mask = {});
  void set_interrupt_pin(uint8_t pin);  // 1 = INTA#; 0 = none

  // Called by the bus allocator and by restore: programs a BAR address
  // without guest involvement.
  void set_bar_address(int bar, uint64_t address);
  uint64_t bar_address(int bar) const;
  uint64_t bar_size(int bar) const { return bars_[bar].size; }
  bool bar_is_64bit(int bar) const { return bars_[bar].is_64bit; }
  // Where the BAR is decoded now (memory enabled and an address programmed).
  std::optional<BarMapping> bar_mapping(int bar) const;
  uint16_t command() const;

  void set_bar_listener(PciBarListener* listener) { listener_ = listener; }

  // Raw config bytes (for saving state) and restoring them.
  std::vector<uint8_t> save_config() const;
  void restore_config(std::span<const uint8_t> bytes);

 protected:
  // Hook for subclasses after the guest wrote config bytes in [offset, offset+len).
  virtual void config_written(uint32_t offset, uint32_t len) {
    (void)offset;
    (void)len;
  }
  // Hook for subclasses to supply live bytes for a read of [offset, offset+len)
  // (after the stored bytes were copied into data).
  virtual void config_reading(uint32_t offset, std::span<uint8_t> data) {
    (void)offset;
    (void)data;
  }
  uint8_t cfg8(uint32_t off) const { return config_[off]; }
  uint16_t cfg16(uint32_t off) const { return uint16_t(config_[off] | config_[off + 1] << 8); }
  uint32_t cfg32(uint32_t off) const { return uint32_t(cfg16(off)) | uint32_t(cfg16(off + 2)) << 16; }
  void set_cfg8(uint32_t off, uint8_t v) { config_[off] = v; }
  void set_cfg16(uint32_t off, uint16_t v);
  void set_cfg32(uint32_t off, uint32_t v);

  mutable std::mutex config_mu_;  // guards config_ and the BAR table

 private:
  struct Bar {
    uint64_t size = 0;  // 0: unused, or the upper half of a 64-bit BAR
    bool is_64bit = false;
    bool used = false;  // also true for the upper half of a 64-bit BAR
  };
  std::optional<BarMapping> mapping_locked(int bar) const;
  uint64_t bar_address_locked(int bar) const;

  std::string name_;
  std::array<uint8_t, kConfigSize> config_{};
  std::array<uint8_t, kConfigSize> wmask_{};
  std::array<Bar, kNumBars> bars_{};
  uint16_t next_cap_ = 0x40;
  uint16_t last_cap_ = 0;
  PciBarListener* listener_ = nullptr;
};

// The BusDevice the machine puts on its MMIO bus for one decoded BAR.
class PciBarRegion : public BusDevice {
 public:
  PciBarRegion(std::shared_ptr<PciFunction> function, int bar) : function_(std::move(function)), bar_(bar) {}
  void read(uint64_t offset, std::span<uint8_t> data) override { function_->bar_read(bar_, offset, data); }
  void write(uint64_t offset, std::span<const uint8_t> data) override { function_->bar_write(bar_, offset, data); }

 private:
  std::shared_ptr<PciFunction> function_;
  int bar_;
};

}  // namespace insula::pci
