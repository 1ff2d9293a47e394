// Msix: the MSI-X capability of a PCI function, its vector table and pending
// bit array (PBA), both living in one of the function's memory BARs.
//
// A device raises vector v with notify(v). When MSI-X is enabled and neither
// the function nor the vector is masked, the programmed (address, data) goes
// to the MsiSender; otherwise the vector's pending bit is set and the message
// is sent when the mask is lifted (PCI Local Bus 3.0, 6.8.2).
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <span>
#include <vector>

#include "devices/interrupts.h"
#include "devices/pci/pci_function.h"

namespace insula::pci {

inline constexpr uint16_t kMsixEnable = 1 << 15;
inline constexpr uint16_t kMsixFunctionMask = 1 << 14;
inline constexpr uint32_t kMsixEntrySize = 16;

struct MsixEntry {
  uint64_t address = 0;
  uint32_t data = 0;
  bool masked = true;
};

struct MsixState {
  static constexpr uint32_t kVersion = 1;
  uint32_t version = kVersion;
  std::vector<uint8_t> table;  // raw table bytes
  std::vector<uint64_t> pba;
};

class Msix {
 public:
  // vectors: 1..2048. sender may be null until set_sender().
  Msix(uint16_t vectors, MsiSender* sender);

  // Adds the capability to function, with the table at table_offset and the
  // PBA at pba_offset of bar (both 8-byte aligned). Returns the cap offset.
  uint16_t add_capability(PciFunction& function, int bar, uint32_t table_offset, uint32_t pba_offset);
  // The function calls this after the guest wrote the message control word.
  void control_written(uint16_t control);

  void table_read(uint64_t offset, std::span<uint8_t> data);
  void table_write(uint64_t offset, std::span<const uint8_t> data);
  void pba_read(uint64_t offset, std::span<uint8_t> data);

  uint32_t table_size() const { return uint32_t(vectors_) * kMsixEntrySize; }
  uint32_t pba_size() const { return uint32_t((vectors_ + 63) / 64 * 8); }
  uint16_t vectors() const { return vectors_; }
  uint16_t cap_offset() const { return cap_offset_; }

  bool enabled() const;
  bool function_masked() const;
  MsixEntry entry(uint16_t vector) const;
  bool pending(uint16_t vector) const;

  // Called (without the Msix lock held) after the guest rewrote a table
  // entry, so a KVM machine can keep an irqfd GSI route per vector current.
  using EntryListener = std::function<void(uint16_t vector, const MsixEntry& entry)>;
  void set_entry_listener(EntryListener listener);

  // Raises vector; ignored when out of range. Safe from any thread.
  void notify(uint16_t vector);
  void set_sender(MsiSender* sender);

  MsixState save() const;
  void restore(const MsixState& state);

 private:
  MsixEntry entry_locked(uint16_t vector) const;
  void deliver_pending_locked();

  const uint16_t vectors_;
  uint16_t cap_offset_ = 0;
  mutable std::mutex mu_;
  MsiSender* sender_;
  EntryListener entry_listener_;
  bool enabled_ = false;
  bool function_masked_ = false;
  std::vector<uint8_t> table_;
  std::vector<uint64_t> pba_;
};

}  // namespace insula::pci
