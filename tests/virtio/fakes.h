// Test fakes for device models: guest memory over a vector, recording
// interrupt sinks.
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <new>
#include <utility>
#include <vector>

#include "base/guest_memory.h"
#include "devices/interrupts.h"

namespace insula::testing {

// Page-aligned storage, as a VMM's guest RAM is (O_DIRECT needs it).
template <typename T>
struct PageAlloc {
  using value_type = T;
  PageAlloc() = default;
  template <typename U>
  PageAlloc(const PageAlloc<U>&) {}
  T* allocate(size_t n) { return static_cast<T*>(::operator new(n * sizeof(T), std::align_val_t{4096})); }
  void deallocate(T* p, size_t) { ::operator delete(p, std::align_val_t{4096}); }
  bool operator==(const PageAlloc&) const { return true; }
};

struct FakeRam {
  explicit FakeRam(uint64_t size, uint64_t gpa = 0) : bytes(size) {
    mem.add_region(MemoryRegion{gpa, size, bytes.data()});
  }
  std::vector<uint8_t, PageAlloc<uint8_t>> bytes;
  GuestMemory mem;
};

class RecordingMsi : public MsiSender {
 public:
  void send(uint64_t address, uint32_t data) override {
    std::lock_guard lock(mu);
    sent.emplace_back(address, data);
    if (on_send) on_send();
  }
  std::function<void()> on_send;  // runs (under mu) as each message is sent
  size_t count() {
    std::lock_guard lock(mu);
    return sent.size();
  }
  std::mutex mu;
  std::vector<std::pair<uint64_t, uint32_t>> sent;
};

class RecordingIrq : public IrqLine {
 public:
  void set_level(bool high) override {
    std::lock_guard lock(mu);
    level = high;
    if (high) raised++;
  }
  std::mutex mu;
  bool level = false;
  int raised = 0;
};

}  // namespace insula::testing
