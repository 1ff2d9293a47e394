// FakeDriver: plays the guest's virtio driver against a VirtioPci over fake
// guest memory: negotiation through BAR 0, split rings laid out in FakeRam,
// chains added to the avail ring, used entries read back.
#pragma once

#include <cstring>
#include <optional>
#include <utility>
#include <vector>

#include "devices/virtio/virtio_pci.h"
#include "fakes.h"

namespace insula::testing {

struct Seg {
  uint64_t addr;
  uint32_t len;
  bool write;
};

class FakeDriver {
 public:
  FakeDriver(virtio::VirtioPci& pci, FakeRam& ram) : pci_(pci), ram_(ram) {}

  template <typename T>
  void w(uint64_t off, T v) {
    pci_.bar_write(0, off, {reinterpret_cast<uint8_t*>(&v), sizeof(T)});
  }
  template <typename T>
  T r(uint64_t off) {
    T v{};
    pci_.bar_read(0, off, {reinterpret_cast<uint8_t*>(&v), sizeof(T)});
    return v;
  }
  uint64_t device_features() {
    w<uint32_t>(0, 0);
    uint64_t lo = r<uint32_t>(4);
    w<uint32_t>(0, 1);
    return lo | uint64_t(r<uint32_t>(4)) << 32;
  }
  // Acknowledge, driver, features, FEATURES_OK; returns whether it stuck.
  bool negotiate(uint64_t features) {
    w<uint8_t>(20, 0);
    w<uint8_t>(20, 1);
    w<uint8_t>(20, 3);
    w<uint32_t>(8, 0);
    w<uint32_t>(12, uint32_t(features));
    w<uint32_t>(8, 1);
    w<uint32_t>(12, uint32_t(features >> 32));
    w<uint8_t>(20, 0xb);
    return r<uint8_t>(20) & virtio::kStatusFeaturesOk;
  }
  // Lays out queue q at gpa base: descriptors, avail ring, then used ring.
  void setup_queue(uint16_t q, uint16_t size, uint64_t base, uint16_t vector = virtio::kNoVector) {
    Queue& s = queues_[q];
    s = Queue{size, base, base + 16ull * size, (base + 16ull * size + 6 + 2ull * size + 3) & ~3ull, 0, 0, 0};
    w<uint16_t>(22, q);
    w<uint16_t>(24, size);
    w<uint16_t>(26, vector);
    w<uint32_t>(32, uint32_t(s.desc));
    w<uint32_t>(36, uint32_t(s.desc >> 32));
    w<uint64_t>(40, s.avail);
    w<uint64_t>(48, s.used);
    w<uint16_t>(28, 1);
  }
  void driver_ok() { w<uint8_t>(20, 0xf); }
  uint8_t status() { return r<uint8_t>(20); }

  // Writes a chain into free descriptors and publishes it. Returns the head.
  uint16_t add(uint16_t q, const std::vector<Seg>& segs) {
    Queue& s = queues_[q];
    uint16_t head = s.next_desc;
    for (size_t i = 0; i < segs.size(); i++) {
      uint16_t idx = uint16_t((head + i) % s.size);
      uint16_t flags = uint16_t((segs[i].write ? virtio::kDescWrite : 0) | (i + 1 < segs.size() ? virtio::kDescNext : 0));
      write_desc(q, idx, segs[i].addr, segs[i].len, flags, uint16_t((idx + 1) % s.size));
    }
    s.next_desc = uint16_t((head + segs.size()) % s.size);
    publish(q, head);
    return head;
  }
  void write_desc(uint16_t q, uint16_t idx, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next) {
    uint8_t d[16];
    std::memcpy(d, &addr, 8);
    std::memcpy(d + 8, &len, 4);
    std::memcpy(d + 12, &flags, 2);
    std::memcpy(d + 14, &next, 2);
    ram_.mem.write(queues_[q].desc + 16ull * idx, d, 16);
  }
  void publish(uint16_t q, uint16_t head) {
    Queue& s = queues_[q];
    ram_.mem.write_obj(s.avail + 4 + 2ull * (s.avail_idx % s.size), head);
    s.avail_idx++;
    ram_.mem.write_obj(s.avail + 2, s.avail_idx);
  }
  void set_avail_idx(uint16_t q, uint16_t idx) {
    queues_[q].avail_idx = idx;
    ram_.mem.write_obj(queues_[q].avail + 2, idx);
  }
  void set_used_event(uint16_t q, uint16_t v) {
    ram_.mem.write_obj(queues_[q].avail + 4 + 2ull * queues_[q].size, v);
  }
  uint16_t avail_event(uint16_t q) {
    uint16_t v = 0;
    ram_.mem.read_obj(queues_[q].used + 4 + 8ull * queues_[q].size, v);
    return v;
  }
  void kick(uint16_t q) { pci_.notify(q); }
  uint16_t avail_idx(uint16_t q) const { return queues_[q].avail_idx; }
  // Whether a driver that published buffers since avail index `old` must
  // notify now (EVENT_IDX: it passed avail_event; vring_need_event, virtio
  // 1.2, 2.7.10).
  bool must_notify(uint16_t q, uint16_t old) {
    uint16_t now = queues_[q].avail_idx;
    return uint16_t(now - avail_event(q) - 1) < uint16_t(now - old);
  }
  // The device's used index of queue q as the guest would read it now.
  uint16_t used_idx(uint16_t q) {
    uint16_t idx = 0;
    ram_.mem.read_obj(queues_[q].used + 2, idx);
    return idx;
  }
  // Next used entry (id, len), if any.
  std::optional<std::pair<uint32_t, uint32_t>> used(uint16_t q) {
    Queue& s = queues_[q];
    uint16_t idx = 0;
    ram_.mem.read_obj(s.used + 2, idx);
    if (idx == s.used_seen) return std::nullopt;
    uint32_t e[2];
    ram_.mem.read(s.used + 4 + 8ull * (s.used_seen % s.size), e, 8);
    s.used_seen++;
    return std::make_pair(e[0], e[1]);
  }

 private:
  struct Queue {
    uint16_t size = 0;
    uint64_t desc = 0, avail = 0, used = 0;
    uint16_t next_desc = 0, avail_idx = 0, used_seen = 0;
  };
  virtio::VirtioPci& pci_;
  FakeRam& ram_;
  Queue queues_[8];
};

// Enables MSI-X on the transport and programs vector v -> (0xfee00000, 0x40+v).
inline void enable_msix(virtio::VirtioPci& pci, uint16_t vectors) {
  for (uint16_t v = 0; v < vectors; v++) {
    uint32_t e[4] = {0xfee00000, 0, 0x40u + v, 0};
    pci.bar_write(0, virtio::kMsixTableOffset + 16 * v, {reinterpret_cast<uint8_t*>(e), 16});
  }
  uint16_t cap = pci.msix().cap_offset();
  uint16_t ctrl = pci::kMsixEnable;
  pci.config_write(cap + 2, {reinterpret_cast<uint8_t*>(&ctrl), 2});
}

}  // namespace insula::testing
