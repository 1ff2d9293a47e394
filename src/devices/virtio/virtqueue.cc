// Virtqueue: split-ring parsing with every guest value checked.
#include "devices/virtio/virtqueue.h"

#include <fmt/format.h>

#include <atomic>

namespace insula::virtio {

namespace {

struct Desc {
  uint64_t addr;
  uint32_t len;
  uint16_t flags;
  uint16_t next;
};
static_assert(sizeof(Desc) == 16);

uint64_t avail_ring_size(uint16_t n) { return 6 + 2ull * n; }
uint64_t used_ring_size(uint16_t n) { return 6 + 8ull * n; }

}  // namespace

Virtqueue::Virtqueue(uint16_t max_size) : max_size_(max_size) { size = max_size; }

bool Virtqueue::check(const GuestMemory& mem, std::string& error) const {
  if (size == 0 || (size & (size - 1)) != 0 || size > max_size_) {
    error = fmt::format("queue size {} is not a power of two in 1..{}", size, max_size_);
    return false;
  }
  if (desc_addr % 16 || avail_addr % 2 || used_addr % 4) {
    error = fmt::format("ring addresses {:#x}/{:#x}/{:#x} are misaligned", desc_addr, avail_addr, used_addr);
    return false;
  }
  if (!mem.contains(desc_addr, 16ull * size) || !mem.contains(avail_addr, avail_ring_size(size)) ||
      !mem.contains(used_addr, used_ring_size(size))) {
    error = fmt::format("rings at {:#x}/{:#x}/{:#x} are not in guest memory", desc_addr, avail_addr, used_addr);
    return false;
  }
  return true;
}

void Virtqueue::set_event_idx(bool on) {
  std::lock_guard lock(mu_);
  event_idx_ = on;
}

bool Virtqueue::walk(const GuestMemory& mem, uint16_t head, DescChain& out, std::string& error) const {
  out.head = head;
  out.readable.clear();
  out.writable.clear();
  out.readable_len = out.writable_len = 0;
  uint64_t table = desc_addr;
  uint32_t table_size = size;
  uint32_t next = head;
  uint32_t count = 0;
  bool indirect = false;
  for (;;) {
    if (next >= table_size) {
      error = fmt::format("descriptor index {} out of a table of {}", next, table_size);
      return false;
    }
    if (++count > table_size) {
      error = fmt::format("descriptor chain from head {} is longer than its table ({}): a loop?", head, table_size);
      return false;
    }
    Desc d;
    if (!mem.read_obj(table + 16ull * next, d)) {
      error = fmt::format("descriptor {} at {:#x} is not in guest memory", next, table + 16ull * next);
      return false;
    }
    if (d.flags & kDescIndirect) {
      if (indirect) {
        error = "indirect descriptor inside an indirect table";
        return false;
      }
      if (d.flags & kDescNext) {
        error = "descriptor has both INDIRECT and NEXT";
        return false;
      }
      if (d.len == 0 || d.len % 16 || d.len / 16 > kMaxIndirectEntries) {
        error = fmt::format("indirect table length {} is not a multiple of 16 in 16..{}", d.len, kMaxIndirectEntries * 16);
        return false;
      }
      if (!mem.contains(d.addr, d.len)) {
        error = fmt::format("indirect table at {:#x}+{} is not in guest memory", d.addr, d.len);
        return false;
      }
      indirect = true;
      table = d.addr;
      table_size = d.len / 16;
      next = 0;
      count = 0;
      continue;
    }
    if (!mem.contains(d.addr, d.len)) {
      error = fmt::format("buffer {:#x}+{} is not in guest memory", d.addr, d.len);
      return false;
    }
    if (d.flags & kDescWrite) {
      out.writable.push_back({d.addr, d.len});
      out.writable_len += d.len;
    } else {
      if (!out.writable.empty()) {
        error = "device-readable descriptor after a device-writable one";
        return false;
      }
      out.readable.push_back({d.addr, d.len});
      out.readable_len += d.len;
    }
    if (!(d.flags & kDescNext)) return true;
    next = d.next;
  }
}

Virtqueue::Pop Virtqueue::pop(const GuestMemory& mem, DescChain& out, std::string& error, bool arm) {
  std::lock_guard lock(mu_);
  if (broken_ || !ready || size == 0) return Pop::kEmpty;
  auto fail = [&](std::string why) {
    error = std::move(why);
    broken_ = true;
    return Pop::kError;
  };
  uint16_t avail_idx;
  if (!mem.read_obj(avail_addr + 2, avail_idx)) return fail("avail ring is not in guest memory");
  if (avail_idx == last_avail_ && event_idx_ && arm) {
    // Publish how far we got, then look again: the driver may have added a
    // buffer before it could see avail_event (virtio 1.2, 2.7.10).
    if (!mem.write_obj(used_addr + 4 + 8ull * size, last_avail_)) return fail("used ring is not in guest memory");
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (!mem.read_obj(avail_addr + 2, avail_idx)) return fail("avail ring is not in guest memory");
  }
  if (avail_idx == last_avail_) return Pop::kEmpty;
  if (uint16_t(avail_idx - last_avail_) > size)
    return fail(fmt::format("avail index {} ran {} entries ahead of a queue of {}", avail_idx,
                            uint16_t(avail_idx - last_avail_), size));
  std::atomic_thread_fence(std::memory_order_acquire);
  uint16_t head;
  if (!mem.read_obj(avail_addr + 4 + 2ull * (last_avail_ % size), head)) return fail("avail ring is not in guest memory");
  if (!walk(mem, head, out, error)) return fail(std::move(error));
  last_avail_++;
  if (event_idx_ && arm) mem.write_obj(used_addr + 4 + 8ull * size, last_avail_);
  return Pop::kChain;
}

Virtqueue::Pop Virtqueue::pop_draining(const GuestMemory& mem, DescChain& out, std::string& error, bool arm_if_empty) {
  Pop r = pop(mem, out, error, false);
  if (r == Pop::kEmpty && arm_if_empty) r = pop(mem, out, error, true);
  return r;
}

void Virtqueue::undo_pop(uint16_t n) {
  std::lock_guard lock(mu_);
  last_avail_ = uint16_t(last_avail_ - n);
}

bool Virtqueue::add_used_many(const GuestMemory& mem, std::span<const std::pair<uint16_t, uint32_t>> elems) {
  std::lock_guard lock(mu_);
  if (size == 0) return false;
  uint16_t idx = next_used_;
  for (const auto& [head, len] : elems) {
    struct {
      uint32_t id;
      uint32_t len;
    } elem{head, len};
    if (!mem.write_obj(used_addr + 4 + 8ull * (idx % size), elem)) {
      broken_ = true;
      return false;
    }
    idx++;
  }
  std::atomic_thread_fence(std::memory_order_release);
  next_used_ = idx;
  if (!mem.write_obj(used_addr + 2, next_used_)) {
    broken_ = true;
    return false;
  }
  return true;
}

bool Virtqueue::add_used(const GuestMemory& mem, uint16_t head, uint32_t len) {
  std::lock_guard lock(mu_);
  if (size == 0) return false;
  struct {
    uint32_t id;
    uint32_t len;
  } elem{head, len};
  if (!mem.write_obj(used_addr + 4 + 8ull * (next_used_ % size), elem)) {
    broken_ = true;
    return false;
  }
  std::atomic_thread_fence(std::memory_order_release);
  next_used_++;
  if (!mem.write_obj(used_addr + 2, next_used_)) {
    broken_ = true;
    return false;
  }
  return true;
}

bool Virtqueue::needs_interrupt(const GuestMemory& mem) {
  std::lock_guard lock(mu_);
  if (size == 0) return false;
  // The used index store must be visible before we read the driver's wish.
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (!event_idx_) {
    uint16_t flags = 0;
    if (!mem.read_obj(avail_addr, flags)) return false;
    return !(flags & kAvailNoInterrupt);
  }
  uint16_t used_event = 0;
  if (!mem.read_obj(avail_addr + 4 + 2ull * size, used_event)) return false;
  uint16_t old = signalled_used_;
  bool valid = signalled_valid_;
  signalled_used_ = next_used_;
  signalled_valid_ = true;
  if (!valid) return true;
  return uint16_t(next_used_ - used_event - 1) < uint16_t(next_used_ - old);
}

bool Virtqueue::broken() const {
  std::lock_guard lock(mu_);
  return broken_;
}

uint16_t Virtqueue::last_avail() const {
  std::lock_guard lock(mu_);
  return last_avail_;
}

std::string Virtqueue::describe(const GuestMemory& mem) const {
  std::lock_guard lock(mu_);
  if (!ready || size == 0) return "not ready";
  // The guest's fields, read as they are now (checked reads: "?" for one
  // outside guest memory).
  auto guest = [&](uint64_t gpa) {
    uint16_t v;
    return mem.read_obj(gpa, v) ? fmt::format("{}", v) : std::string("?");
  };
  return fmt::format(
      "size {}, device: last_avail {} next_used {} signalled_used {}{}; guest: avail.idx {} used.idx {} avail.flags {} "
      "used_event {} avail_event {}{}{}",
      size, last_avail_, next_used_, signalled_used_, signalled_valid_ ? "" : " (none yet)", guest(avail_addr + 2),
      guest(used_addr + 2), guest(avail_addr), guest(avail_addr + 4 + 2ull * size), guest(used_addr + 4 + 8ull * size),
      event_idx_ ? "" : " (no EVENT_IDX)", broken_ ? ", BROKEN" : "");
}

void Virtqueue::reset() {
  std::lock_guard lock(mu_);
  size = max_size_;
  ready = false;
  desc_addr = avail_addr = used_addr = 0;
  msix_vector = kNoVector;
  event_idx_ = broken_ = signalled_valid_ = false;
  last_avail_ = next_used_ = signalled_used_ = 0;
}

QueueState Virtqueue::save() const {
  std::lock_guard lock(mu_);
  return QueueState{QueueState::kVersion, size,       ready,          desc_addr,       avail_addr,
                    used_addr,            msix_vector, last_avail_,   next_used_,      signalled_used_,
                    signalled_valid_,     event_idx_};
}

void Virtqueue::restore(const QueueState& s) {
  std::lock_guard lock(mu_);
  size = s.size;
  ready = s.ready;
  desc_addr = s.desc;
  avail_addr = s.avail;
  used_addr = s.used;
  msix_vector = s.msix_vector;
  last_avail_ = s.last_avail;
  next_used_ = s.next_used;
  signalled_used_ = s.signalled_used;
  signalled_valid_ = s.signalled_valid;
  event_idx_ = s.event_idx;
  broken_ = false;
}

size_t ChainReader::read(void* dst, size_t len) {
  size_t done = 0;
  auto* out = static_cast<uint8_t*>(dst);
  while (done < len && index_ < bufs_.size()) {
    const Buffer& b = bufs_[index_];
    size_t n = std::min<size_t>(len - done, b.len - offset_);
    if (n && !mem_.read(b.addr + offset_, out + done, n)) return done;
    done += n;
    offset_ += uint32_t(n);
    if (offset_ == b.len) {
      index_++;
      offset_ = 0;
    }
  }
  return done;
}

uint64_t ChainReader::remaining() const {
  uint64_t r = 0;
  for (size_t i = index_; i < bufs_.size(); i++) r += bufs_[i].len;
  return r - offset_;
}

size_t ChainWriter::write(const void* src, size_t len) {
  size_t done = 0;
  auto* in = static_cast<const uint8_t*>(src);
  while (done < len && index_ < bufs_.size()) {
    const Buffer& b = bufs_[index_];
    size_t n = std::min<size_t>(len - done, b.len - offset_);
    if (n && !mem_.write(b.addr + offset_, in + done, n)) break;
    done += n;
    offset_ += uint32_t(n);
    if (offset_ == b.len) {
      index_++;
      offset_ = 0;
    }
  }
  written_ += done;
  return done;
}

uint64_t ChainWriter::remaining() const {
  uint64_t r = 0;
  for (size_t i = index_; i < bufs_.size(); i++) r += bufs_[i].len;
  return r - offset_;
}

}  // namespace insula::virtio
