// VirtioConsole: the virtio console (virtio 1.2, 5.3) with one port, hvc0 in
// a Linux guest. Guest output goes to a host fd; host input (read from a fd
// watched on an EventLoop) goes to the guest's receive queue.
//
// The fds are not owned (typically the VMM's stdin/stdout). Input is read
// only while there is room to buffer it: when the guest stops posting
// receive buffers, the fd is unwatched until it posts some again.
#pragma once

#include <deque>
#include <memory>
#include <mutex>

#include "base/event_loop.h"
#include "devices/virtio/virtio_device.h"

namespace insula::virtio {

inline constexpr uint64_t kConsoleFSize = 1ull << 0;
inline constexpr uint64_t kConsoleFEmergWrite = 1ull << 2;

struct VirtioConsoleState {
  static constexpr uint32_t kVersion = 1;
  uint32_t version = kVersion;
  std::vector<uint8_t> pending_input;
};

class VirtioConsole : public VirtioDevice, public std::enable_shared_from_this<VirtioConsole> {
 public:
  // in_fd may be -1 (output only); loop may be null only then.
  VirtioConsole(int in_fd, int out_fd, EventLoop* loop, uint16_t cols = 80, uint16_t rows = 25);
  ~VirtioConsole() override;

  uint16_t device_type() const override { return kIdConsole; }
  std::string name() const override { return "console"; }
  uint32_t pci_class() const override { return 0x078000; }  // communication, other
  uint64_t features() const override { return kConsoleFSize | kConsoleFEmergWrite; }
  size_t num_queues() const override { return 2; }  // receiveq0, transmitq0
  void read_config(uint64_t offset, std::span<uint8_t> data) override;
  void write_config(uint64_t offset, std::span<const uint8_t> data) override;
  void activate(VirtioHost& host) override;
  void queue_notify(size_t queue) override;
  void reset() override;

  // Terminal size change from the host: updates config, tells the guest.
  void resize(uint16_t cols, uint16_t rows);

  VirtioConsoleState save() const;
  void restore(const VirtioConsoleState& state);

 private:
  static constexpr size_t kMaxPending = 64 * 1024;
  void on_input();
  void deliver_locked();
  void transmit_locked();
  void watch_locked(bool on);
  void write_out(const uint8_t* data, size_t len);

  const int in_fd_, out_fd_;
  EventLoop* loop_;
  mutable std::mutex mu_;
  VirtioHost* host_ = nullptr;
  uint16_t cols_, rows_;
  std::deque<uint8_t> pending_;
  bool watching_ = false;
  bool eof_ = false;
};

}  // namespace insula::virtio
