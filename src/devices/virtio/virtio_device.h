// VirtioDevice: what every virtio device model implements (its type,
// features, queues, config space, activation), and VirtioHost: what the
// transport offers it (guest memory, queues, interrupts, NEEDS_RESET).
//
// The transport (virtio_pci.h) owns feature negotiation, the status state
// machine and queue setup; a device only sees a running queue set between
// activate() and reset().
#pragma once

#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "base/guest_memory.h"
#include "devices/virtio/virtqueue.h"

namespace insula::virtio {

// Device-independent feature bits (virtio 1.2, 6).
inline constexpr uint64_t kFRingIndirectDesc = 1ull << 28;
inline constexpr uint64_t kFRingEventIdx = 1ull << 29;
inline constexpr uint64_t kFVersion1 = 1ull << 32;

// Device status bits (virtio 1.2, 2.1).
inline constexpr uint8_t kStatusAcknowledge = 1;
inline constexpr uint8_t kStatusDriver = 2;
inline constexpr uint8_t kStatusDriverOk = 4;
inline constexpr uint8_t kStatusFeaturesOk = 8;
inline constexpr uint8_t kStatusNeedsReset = 0x40;
inline constexpr uint8_t kStatusFailed = 0x80;

// Device IDs (virtio 1.2, 5).
inline constexpr uint16_t kIdNet = 1;
inline constexpr uint16_t kIdBlock = 2;
inline constexpr uint16_t kIdConsole = 3;
inline constexpr uint16_t kIdRng = 4;
inline constexpr uint16_t kIdBalloon = 5;
inline constexpr uint16_t kIdVsock = 19;

class VirtioHost {
 public:
  virtual ~VirtioHost() = default;
  virtual const GuestMemory& memory() const = 0;
  virtual Virtqueue& queue(size_t index) = 0;
  virtual uint64_t acked_features() const = 0;
  // Raises the queue's interrupt if the driver asked for one (EVENT_IDX or
  // NO_INTERRUPT). Safe from any thread.
  virtual void signal_used(size_t queue) = 0;
  // Config space changed: bumps config_generation and raises the config
  // interrupt.
  virtual void signal_config() = 0;
  // The guest broke the protocol: log it, set NEEDS_RESET, tell the driver.
  virtual void device_error(const std::string& what) = 0;
};

// Serves every chain the driver has made available on queue q: pops it,
// hands it to handle(chain), which returns how many bytes it wrote into the
// chain, and puts it on the used ring. The queue's interrupt is raised once
// after the last chain of the batch, and also right after any chain for
// which signal_now(chain) is true, so the driver learns of that one without
// waiting for the rest (as its EVENT_IDX allows: an interrupt when the used
// index passes used_event, not one per chain). A malformed chain flags the
// device (NEEDS_RESET) and stops. admit(chain) may refuse a chain (a rate
// limiter): it goes back on the queue and serving stops until the device is
// called again.
template <typename Handle, typename Admit, typename SignalNow>
void serve_queue(VirtioHost& host, size_t q, Handle&& handle, Admit&& admit, SignalNow&& signal_now) {
  Virtqueue& vq = host.queue(q);
  const GuestMemory& mem = host.memory();
  bool unsignalled = false;
  DescChain chain;  // one per batch: pop() refills it, its vectors keep their capacity
  for (;;) {
    std::string why;
    // While draining, avail_event stays behind: buffers the driver adds
    // meanwhile are picked up by this loop without a notification each (an
    // exit of the guest). Only an empty ring publishes it and looks again.
    auto r = vq.pop_draining(mem, chain, why);
    if (r == Virtqueue::Pop::kError) {
      host.device_error(why);
      break;
    }
    if (r == Virtqueue::Pop::kEmpty) break;
    if (!admit(chain)) {
      vq.undo_pop();
      break;
    }
    vq.add_used(mem, chain.head, handle(chain));
    unsignalled = true;
    if (signal_now(chain)) {
      host.signal_used(q);
      unsignalled = false;
    }
  }
  if (unsignalled) host.signal_used(q);
}

template <typename Handle, typename Admit>
void serve_queue(VirtioHost& host, size_t q, Handle&& handle, Admit&& admit) {
  serve_queue(host, q, std::forward<Handle>(handle), std::forward<Admit>(admit), [](const DescChain&) { return false; });
}

template <typename Handle>
void serve_queue(VirtioHost& host, size_t q, Handle&& handle) {
  serve_queue(host, q, std::forward<Handle>(handle), [](const DescChain&) { return true; });
}

class VirtioDevice {
 public:
  virtual ~VirtioDevice() = default;
  virtual uint16_t device_type() const = 0;
  virtual std::string name() const = 0;
  // PCI class code the transport presents (class << 16 | subclass << 8).
  virtual uint32_t pci_class() const { return 0xff0000; }
  // Device-specific feature bits; the transport adds VERSION_1,
  // RING_INDIRECT_DESC and RING_EVENT_IDX.
  virtual uint64_t features() const = 0;
  virtual size_t num_queues() const = 0;
  virtual uint16_t queue_max_size(size_t queue) const {
    (void)queue;
    return 256;
  }
  virtual void read_config(uint64_t offset, std::span<uint8_t> data) = 0;
  virtual void write_config(uint64_t offset, std::span<const uint8_t> data) {
    (void)offset;
    (void)data;
  }
  // DRIVER_OK: the enabled queues are checked; host stays valid until reset().
  virtual void activate(VirtioHost& host) = 0;
  // The driver notified queue (from the ioeventfd thread or a vCPU).
  virtual void queue_notify(size_t queue) = 0;
  // Device reset: returns once nothing touches queues or guest memory.
  virtual void reset() = 0;
  // Returns once no request the device accepted is still being served off
  // the notifying thread (worker pools): called with the vCPUs paused and
  // the event loop parked, before a snapshot reads queues and memory.
  virtual void quiesce() {}
  // The device's own part of a hang dump (VirtioPci::log_state): what it has
  // in flight and holds back (virtio-blk: a line per queue and one for the
  // device); empty for none.
  virtual std::vector<std::string> describe_state() const { return {}; }
};

// Copies the bytes of a config struct that a read at offset covers; bytes
// past its end read as zero.
template <typename T>
void read_config_bytes(const T& config, uint64_t offset, std::span<uint8_t> data) {
  const auto* bytes = reinterpret_cast<const uint8_t*>(&config);
  for (size_t i = 0; i < data.size(); i++) data[i] = offset + i < sizeof(T) ? bytes[offset + i] : 0;
}

}  // namespace insula::virtio
