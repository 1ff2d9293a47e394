// VirtioPci: the virtio 1.x modern PCI transport (virtio 1.2, 4.1) around one
// VirtioDevice.
//
// BAR 0 (64-bit, 32 KiB) holds, at fixed offsets: common config (0x0000),
// ISR (0x1000), device config (0x2000), notifications (0x3000, 4 bytes per
// queue: notify_off_multiplier 4, queue_notify_off = queue index), the MSI-X
// table (0x4000) and PBA (0x5000). Interrupts go out as MSI-X through an
// MsiSender; with MSI-X off, through the INTx IrqLine (level, cleared by an
// ISR read).
//
// The machine wires ioeventfds at notify_address(q) and calls notify(q) from
// its EventLoop when one fires; a plain MMIO write there does the same on
// the vCPU thread.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "devices/interrupts.h"
#include "devices/pci/msix.h"
#include "devices/pci/pci_function.h"
#include "devices/virtio/virtio_device.h"

namespace insula::virtio {

inline constexpr int kVirtioBar = 0;
inline constexpr uint64_t kVirtioBarSize = 0x8000;
inline constexpr uint64_t kCommonCfgOffset = 0x0000;
inline constexpr uint64_t kIsrOffset = 0x1000;
inline constexpr uint64_t kDeviceCfgOffset = 0x2000;
inline constexpr uint64_t kNotifyOffset = 0x3000;
inline constexpr uint32_t kNotifyMultiplier = 4;
inline constexpr uint64_t kMsixTableOffset = 0x4000;
inline constexpr uint64_t kMsixPbaOffset = 0x5000;
inline constexpr uint64_t kRegionSize = 0x1000;

struct VirtioPciState {
  static constexpr uint32_t kVersion = 1;
  uint32_t version = kVersion;
  std::vector<uint8_t> config_space;
  pci::MsixState msix;
  uint8_t status = 0;
  uint8_t isr = 0;
  uint8_t config_generation = 0;
  uint32_t device_feature_select = 0;
  uint32_t driver_feature_select = 0;
  uint64_t driver_features = 0;
  uint16_t config_msix_vector = kNoVector;
  uint16_t queue_select = 0;
  std::vector<QueueState> queues;
};

class VirtioPci : public pci::PciFunction, public VirtioHost {
 public:
  // msi may be null (then MSI-X interrupts stay pending); intx may be null
  // (no INTx pin is presented).
  VirtioPci(std::shared_ptr<VirtioDevice> device, GuestMemory memory, MsiSender* msi, IrqLine* intx);
  ~VirtioPci() override;

  VirtioDevice& device() { return *device_; }
  pci::Msix& msix() { return msix_; }

  // The driver notified queue q (ioeventfd handler entry). Ignored unless
  // the device is running and the queue enabled.
  void notify(size_t q);
  // Offset of queue q's notify register in BAR 0, and its guest-physical
  // address while BAR 0 is decoded.
  static uint64_t notify_offset(size_t q) { return kNotifyOffset + q * kNotifyMultiplier; }
  std::optional<uint64_t> notify_address(size_t q) const;
  size_t num_queues() const { return queues_.size(); }
  uint8_t status() const { return status_.load(); }
  // Logs the transport's and the device's state (status, each queue as both
  // sides see it, its MSI-X vector's mask and pending bit, what the device
  // holds): a hang dump, for `insula run`'s SIGUSR2.
  void log_state();

  // PciFunction
  void bar_read(int bar, uint64_t offset, std::span<uint8_t> data) override;
  void bar_write(int bar, uint64_t offset, std::span<const uint8_t> data) override;

  // VirtioHost
  const GuestMemory& memory() const override { return memory_; }
  Virtqueue& queue(size_t index) override { return *queues_.at(index); }
  uint64_t acked_features() const override { return driver_features_.load(); }
  void signal_used(size_t q) override;
  void signal_config() override;
  void device_error(const std::string& what) override;

  // Transport state; the device's own state is saved by the device. restore
  // re-activates the device when the saved status had DRIVER_OK.
  VirtioPciState save() const;
  void restore(const VirtioPciState& state);

 protected:
  void config_written(uint32_t offset, uint32_t len) override;
  void config_reading(uint32_t offset, std::span<uint8_t> data) override;

 private:
  void common_read(uint64_t offset, std::span<uint8_t> data);
  void common_read_locked(uint64_t offset, std::span<uint8_t> data);
  void common_write(uint64_t offset, std::span<const uint8_t> data);
  void set_status_locked(uint8_t status);
  void reset_locked();
  void raise(uint16_t vector, uint8_t isr_bit);
  // The VIRTIO_PCI_CAP_PCI_CFG window: which BAR bytes its data field reaches.
  bool pci_cfg_window(uint64_t& bar_offset, uint32_t& length);
  uint64_t offered_features() const;

  std::shared_ptr<VirtioDevice> device_;
  GuestMemory memory_;
  IrqLine* intx_;
  pci::Msix msix_;
  std::vector<std::unique_ptr<Virtqueue>> queues_;
  uint16_t pci_cfg_cap_ = 0;

  std::mutex mu_;  // common config registers and device activation
  std::atomic<uint8_t> status_{0};
  std::atomic<uint8_t> isr_{0};
  std::atomic<uint8_t> config_generation_{0};
  std::atomic<uint64_t> driver_features_{0};
  std::atomic<uint16_t> config_msix_vector_{kNoVector};
  uint32_t device_feature_select_ = 0;
  uint32_t driver_feature_select_ = 0;
  uint16_t queue_select_ = 0;
  bool active_ = false;
};

}  // namespace insula::virtio
