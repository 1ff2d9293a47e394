// I/O bus dispatch.
#include "devices/io_bus.h"

#include <algorithm>
#include <mutex>

#include "base/error.h"

namespace insula {

void IoBus::add(uint64_t base, uint64_t size, std::shared_ptr<BusDevice> device, std::string name) {
  if (size == 0 || base + size < base) throw error("bus range {:#x}+{:#x} for '{}' is empty or wraps", base, size, name);
  std::unique_lock lock(mu_);
  auto next = ranges_.lower_bound(base);
  if (next != ranges_.end() && next->first < base + size)
    throw error("bus range {:#x}+{:#x} for '{}' overlaps '{}'", base, size, name, next->second.name);
  if (next != ranges_.begin()) {
    auto prev = std::prev(next);
    if (prev->first + prev->second.size > base)
      throw error("bus range {:#x}+{:#x} for '{}' overlaps '{}'", base, size, name, prev->second.name);
  }
  ranges_.emplace(base, Range{size, std::move(device), std::move(name)});
}

void IoBus::remove(uint64_t base) {
  std::unique_lock lock(mu_);
  ranges_.erase(base);
}

std::shared_ptr<BusDevice> IoBus::find(uint64_t addr, uint64_t& offset) const {
  std::shared_lock lock(mu_);
  auto it = ranges_.upper_bound(addr);
  if (it == ranges_.begin()) return nullptr;
  --it;
  if (addr - it->first >= it->second.size) return nullptr;
  offset = addr - it->first;
  return it->second.device;
}

bool IoBus::read(uint64_t addr, std::span<uint8_t> data) const {
  uint64_t offset = 0;
  auto dev = find(addr, offset);
  if (!dev) {
    std::fill(data.begin(), data.end(), 0xff);
    return false;
  }
  dev->read(offset, data);
  return true;
}

bool IoBus::write(uint64_t addr, std::span<const uint8_t> data) const {
  uint64_t offset = 0;
  auto dev = find(addr, offset);
  if (!dev) return false;
  dev->write(offset, data);
  return true;
}

}  // namespace insula
