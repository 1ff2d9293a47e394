// VirtioRng: the virtio entropy device (virtio 1.2, 5.4), fed by getrandom().
#pragma once

#include <mutex>

#include "devices/virtio/virtio_device.h"

namespace insula::virtio {

struct VirtioRngState {
  static constexpr uint32_t kVersion = 1;
  uint32_t version = kVersion;
  uint64_t bytes_served = 0;
};

class VirtioRng : public VirtioDevice {
 public:
  uint16_t device_type() const override { return kIdRng; }
  std::string name() const override { return "rng"; }
  uint64_t features() const override { return 0; }
  size_t num_queues() const override { return 1; }
  void read_config(uint64_t, std::span<uint8_t> data) override { std::fill(data.begin(), data.end(), 0); }
  void activate(VirtioHost& host) override;
  void queue_notify(size_t queue) override;
  void reset() override;

  VirtioRngState save() const;
  void restore(const VirtioRngState& state);

 private:
  mutable std::mutex mu_;
  VirtioHost* host_ = nullptr;
  uint64_t bytes_served_ = 0;
};

}  // namespace insula::virtio
