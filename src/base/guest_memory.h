// GuestMemory: the guest-physical address space as the VMM sees it.
//
// A non-owning view over host mappings (the owner is vmm::GuestRam, or a plain
// buffer in unit tests). Every access from a device model goes through here
// and is bounds-checked: a guest-supplied address never becomes a host pointer
// unless the whole range lies inside one region.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

namespace insula {

struct MemoryRegion {
  uint64_t gpa = 0;
  uint64_t size = 0;
  uint8_t* host = nullptr;
};

class GuestMemory {
 public:
  GuestMemory() = default;
  explicit GuestMemory(std::vector<MemoryRegion> regions) : regions_(std::move(regions)) {}

  void add_region(const MemoryRegion& r) { regions_.push_back(r); }
  const std::vector<MemoryRegion>& regions() const { return regions_; }

  // Host pointer for [gpa, gpa+len) when it lies wholly inside one region;
  // nullptr otherwise (including on overflow of gpa+len).
  uint8_t* host_ptr(uint64_t gpa, uint64_t len) const {
    for (const auto& r : regions_) {
      if (gpa >= r.gpa && gpa - r.gpa <= r.size && len <= r.size - (gpa - r.gpa)) return r.host + (gpa - r.gpa);
    }
    return nullptr;
  }
  bool contains(uint64_t gpa, uint64_t len) const { return host_ptr(gpa, len) != nullptr; }

  // Copies; false (and nothing copied) when the range is not all guest RAM.
  bool read(uint64_t gpa, void* dst, size_t len) const {
    const uint8_t* p = host_ptr(gpa, len);
    if (!p) return false;
    std::memcpy(dst, p, len);
    return true;
  }
  bool write(uint64_t gpa, const void* src, size_t len) const {
    uint8_t* p = host_ptr(gpa, len);
    if (!p) return false;
    std::memcpy(p, src, len);
    return true;
  }
  template <typename T>
  bool read_obj(uint64_t gpa, T& out) const {
    static_assert(std::is_trivially_copyable_v<T>);
    return read(gpa, &out, sizeof(T));
  }
  template <typename T>
  bool write_obj(uint64_t gpa, const T& v) const {
    static_assert(std::is_trivially_copyable_v<T>);
    return write(gpa, &v, sizeof(T));
  }

  // Sum of region sizes.
  uint64_t total_size() const {
    uint64_t s = 0;
    for (const auto& r : regions_) s += r.size;
    return s;
  }

 private:
  std::vector<MemoryRegion> regions_;
};

}  // namespace insula
