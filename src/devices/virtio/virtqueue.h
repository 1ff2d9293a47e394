// Virtqueue: the device side of a virtio 1.x split ring (virtio 1.2, 2.7).
//
// The guest is hostile: every index, address and length it writes is checked.
// A malformed chain (outside guest RAM, a loop, longer than the queue, an
// indirect table inside an indirect table, a device-readable buffer after a
// device-writable one, an avail index that ran ahead by more than the queue
// size) makes pop() return kError; the device then asks the transport for
// NEEDS_RESET and the queue stays silent until reset. Nothing here loops more
// than queue-size (or indirect-table-size) times per chain.
#pragma once

#include <cstdint>
#include <mutex>
#include <span>
#include <utility>
#include <string>
#include <vector>

#include "base/guest_memory.h"

namespace insula::virtio {

inline constexpr uint16_t kDescNext = 1;
inline constexpr uint16_t kDescWrite = 2;
inline constexpr uint16_t kDescIndirect = 4;
inline constexpr uint16_t kAvailNoInterrupt = 1;
inline constexpr uint16_t kNoVector = 0xffff;
// Linux sizes indirect tables by segment count, not queue size; QEMU allows
// up to 1024 entries, as do we.
inline constexpr uint32_t kMaxIndirectEntries = 1024;

struct Buffer {
  uint64_t addr = 0;
  uint32_t len = 0;
};

// One descriptor chain: its head index and its buffers, split by direction.
struct DescChain {
  uint16_t head = 0;
  std::vector<Buffer> readable;  // driver -> device
  std::vector<Buffer> writable;  // device -> driver
  uint64_t readable_len = 0;
  uint64_t writable_len = 0;
};

struct QueueState {
  static constexpr uint32_t kVersion = 1;
  uint32_t version = kVersion;
  uint16_t size = 0;
  bool ready = false;
  uint64_t desc = 0, avail = 0, used = 0;
  uint16_t msix_vector = kNoVector;
  uint16_t last_avail = 0;
  uint16_t next_used = 0;
  uint16_t signalled_used = 0;
  bool signalled_valid = false;
  bool event_idx = false;
};

class Virtqueue {
 public:
  enum class Pop { kEmpty, kChain, kError };

  explicit Virtqueue(uint16_t max_size = 256);
  Virtqueue(const Virtqueue&) = delete;
  Virtqueue& operator=(const Virtqueue&) = delete;

  // Driver-visible configuration, written by the transport before the queue
  // is enabled (not thread-safe against pop/add_used: the transport only
  // changes it while the device is not running).
  uint16_t max_size() const { return max_size_; }
  uint16_t size = 0;
  bool ready = false;
  uint64_t desc_addr = 0, avail_addr = 0, used_addr = 0;
  uint16_t msix_vector = kNoVector;

  // Whether the configuration is usable: size a power of two no larger than
  // max_size, rings aligned and wholly inside guest memory. error says why not.
  bool check(const GuestMemory& mem, std::string& error) const;

  // Sets whether VIRTIO_F_RING_EVENT_IDX was negotiated; called at activation.
  void set_event_idx(bool on);

  // Takes the next available chain. On kError, error says what was wrong and
  // the queue is marked broken (later pops return kEmpty).
  // With EVENT_IDX, arm = true publishes avail_event (the driver notifies on
  // its next buffer); arm = false leaves it where it was, so a device that
  // will look at the ring again anyway (it still has requests in flight) is
  // not notified for buffers the driver adds meanwhile.
  Pop pop(const GuestMemory& mem, DescChain& out, std::string& error, bool arm = true);
  // A draining device's pop: takes the next chain without asking to hear of
  // more; only on an empty ring, and when arm_if_empty (nothing else will
  // look at the ring again), publishes avail_event and looks once more.
  // Arming on a pop that found a chain would ask for a notification of the
  // very next buffer (bench/devices run 42: a kick per request at QD32).
  Pop pop_draining(const GuestMemory& mem, DescChain& out, std::string& error, bool arm_if_empty = true);
  // Returns a chain to the driver with len bytes written. False when the
  // used ring is not in guest memory (the queue is then broken).
  bool add_used(const GuestMemory& mem, uint16_t head, uint32_t len);
  // Returns several chains with one used-index update, so the driver never
  // sees part of a set (virtio-net mergeable receive buffers).
  bool add_used_many(const GuestMemory& mem, std::span<const std::pair<uint16_t, uint32_t>> elems);
  // After one or more add_used: whether the driver wants an interrupt now
  // (used_event with EVENT_IDX, else the avail NO_INTERRUPT flag).
  bool needs_interrupt(const GuestMemory& mem);
  // Gives back the last n popped chains (not yet used) so they pop again.
  void undo_pop(uint16_t n = 1);

  bool broken() const;
  uint16_t last_avail() const;
  // One line of the queue's state as both sides see it (the device's
  // indices, and the guest's avail/used indices and event fields read from
  // its memory), for a hang dump (`insula run`, SIGUSR2).
  std::string describe(const GuestMemory& mem) const;
  void reset();  // back to power-on state

  QueueState save() const;
  void restore(const QueueState& state);

 private:
  bool walk(const GuestMemory& mem, uint16_t head, DescChain& out, std::string& error) const;

  const uint16_t max_size_;
  mutable std::mutex mu_;
  bool event_idx_ = false;
  bool broken_ = false;
  uint16_t last_avail_ = 0;
  uint16_t next_used_ = 0;
  uint16_t signalled_used_ = 0;
  bool signalled_valid_ = false;
};

// Sequential copying out of a chain's device-readable buffers.
class ChainReader {
 public:
  ChainReader(const GuestMemory& mem, const std::vector<Buffer>& buffers) : mem_(mem), bufs_(buffers) {}
  // Copies up to len bytes; returns how many were copied.
  size_t read(void* dst, size_t len);
  template <typename T>
  bool read_obj(T& out) {
    return read(&out, sizeof(T)) == sizeof(T);
  }
  uint64_t remaining() const;

 private:
  const GuestMemory& mem_;
  const std::vector<Buffer>& bufs_;
  size_t index_ = 0;
  uint32_t offset_ = 0;
};

// Sequential copying into a chain's device-writable buffers.
class ChainWriter {
 public:
  ChainWriter(const GuestMemory& mem, const std::vector<Buffer>& buffers) : mem_(mem), bufs_(buffers) {}
  size_t write(const void* src, size_t len);
  uint64_t written() const { return written_; }
  uint64_t remaining() const;

 private:
  const GuestMemory& mem_;
  const std::vector<Buffer>& bufs_;
  size_t index_ = 0;
  uint32_t offset_ = 0;
  uint64_t written_ = 0;
};

}  // namespace insula::virtio
