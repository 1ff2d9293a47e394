// VirtioBalloon: page frame lists in, madvise out; statistics on request.
#include "devices/virtio/virtio_balloon.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstring>

#include "base/error.h"

namespace insula::virtio {

namespace {
constexpr size_t kInflate = 0, kDeflate = 1, kStats = 2;

struct BalloonConfig {
  uint32_t num_pages;
  uint32_t actual;
  uint32_t free_page_hint_cmd_id;
  uint32_t poison_val;
};

#pragma pack(push, 1)
struct StatEntry {
  uint16_t tag;
  uint64_t val;
};
#pragma pack(pop)
static_assert(sizeof(StatEntry) == 10);
}  // namespace

void VirtioBalloon::read_config(uint64_t offset, std::span<uint8_t> data) {
  std::lock_guard lock(mu_);
  read_config_bytes(BalloonConfig{target_pages_, actual_pages_, 0, 0}, offset, data);
}

void VirtioBalloon::write_config(uint64_t offset, std::span<const uint8_t> data) {
  std::lock_guard lock(mu_);
  // Only `actual` (offset 4) is driver-writable.
  uint8_t bytes[4];
  std::memcpy(bytes, &actual_pages_, 4);
  for (size_t i = 0; i < data.size(); i++)
    if (offset + i >= 4 && offset + i < 8) bytes[offset + i - 4] = data[i];
  std::memcpy(&actual_pages_, bytes, 4);
}

void VirtioBalloon::activate(VirtioHost& host) {
  std::lock_guard lock(mu_);
  host_ = &host;
  // Linux queues its first stats buffer and kicks before DRIVER_OK, when
  // the kick finds no active device: take that buffer now, or the host
  // would never get statistics.
  if (stats_) stats_locked();
}

void VirtioBalloon::reset() {
  std::lock_guard lock(mu_);
  host_ = nullptr;
  stats_head_.reset();
  actual_pages_ = 0;
}

void VirtioBalloon::queue_notify(size_t queue) {
  std::lock_guard lock(mu_);
  if (!host_) return;
  if (queue == kInflate) inflate_locked();
  if (queue == kDeflate) deflate_locked();
  if (queue == kStats && stats_) stats_locked();
}

void VirtioBalloon::inflate_locked() {
  const GuestMemory& mem = host_->memory();
  const uint64_t host_page = uint64_t(::sysconf(_SC_PAGESIZE));
  serve_queue(*host_, kInflate, [&](const DescChain& chain) -> uint32_t {
    ChainReader reader(mem, chain.readable);
    uint32_t pfn;
    while (reader.read_obj(pfn)) {
      uint8_t* p = mem.host_ptr(uint64_t(pfn) * kBalloonPageSize, kBalloonPageSize);
      // Pages outside RAM are ignored; so are guest pages smaller than a
      // host page (the kernel can only drop whole host pages).
      if (!p || reinterpret_cast<uintptr_t>(p) % host_page || kBalloonPageSize % host_page) continue;
      if (::madvise(p, kBalloonPageSize, MADV_DONTNEED) == 0) inflated_pages_++;
    }
    return 0;
  });
}

void VirtioBalloon::deflate_locked() {
  // Deflated pages need nothing from us: they fault back in on first touch.
  serve_queue(*host_, kDeflate, [&](const DescChain& chain) -> uint32_t {
    uint64_t pages = chain.readable_len / 4;
    inflated_pages_ = pages > inflated_pages_ ? 0 : inflated_pages_ - pages;
    return 0;
  });
}

void VirtioBalloon::stats_locked() {
  Virtqueue& vq = host_->queue(kStats);
  const GuestMemory& mem = host_->memory();
  for (;;) {
    DescChain chain;
    std::string why;
    auto r = vq.pop(mem, chain, why);
    if (r == Virtqueue::Pop::kError) {
      host_->device_error(why);
      return;
    }
    if (r == Virtqueue::Pop::kEmpty) return;
    // A driver holds one stats buffer at a time; if it sends another while
    // we hold one, give the old one back.
    if (stats_head_) {
      vq.add_used(mem, *stats_head_, 0);
      host_->signal_used(kStats);
    }
    ChainReader reader(mem, chain.readable);
    StatEntry e;
    while (reader.read_obj(e)) last_stats_[e.tag] = e.val;
    stats_head_ = chain.head;
  }
}

void VirtioBalloon::set_target_pages(uint32_t pages) {
  std::lock_guard lock(mu_);
  target_pages_ = pages;
  if (host_) host_->signal_config();
}

uint32_t VirtioBalloon::target_pages() const {
  std::lock_guard lock(mu_);
  return target_pages_;
}

uint32_t VirtioBalloon::actual_pages() const {
  std::lock_guard lock(mu_);
  return actual_pages_;
}

uint64_t VirtioBalloon::inflated_pages() const {
  std::lock_guard lock(mu_);
  return inflated_pages_;
}

bool VirtioBalloon::request_stats() {
  std::lock_guard lock(mu_);
  if (!host_ || !stats_head_) return false;
  host_->queue(kStats).add_used(host_->memory(), *stats_head_, 0);
  stats_head_.reset();
  host_->signal_used(kStats);
  return true;
}

std::map<uint16_t, uint64_t> VirtioBalloon::stats() const {
  std::lock_guard lock(mu_);
  return last_stats_;
}

VirtioBalloonState VirtioBalloon::save() const {
  std::lock_guard lock(mu_);
  VirtioBalloonState s;
  s.target_pages = target_pages_;
  s.actual_pages = actual_pages_;
  s.stats_head = stats_head_ ? *stats_head_ : VirtioBalloonState::kNoStatsHead;
  s.inflated_pages = inflated_pages_;
  return s;
}

void VirtioBalloon::restore(const VirtioBalloonState& s) {
  if (s.version != VirtioBalloonState::kVersion) throw error("virtio-balloon: saved state version {} unknown", s.version);
  if (s.stats_head != VirtioBalloonState::kNoStatsHead && s.stats_head > 0xffff)
    throw error("virtio-balloon: saved stats buffer head {} is not a descriptor index", s.stats_head);
  std::lock_guard lock(mu_);
  target_pages_ = s.target_pages;
  actual_pages_ = s.actual_pages;
  inflated_pages_ = s.inflated_pages;
  // The held stats buffer: a wrong head in a hostile file only reaches the
  // used ring of the guest it claims to be from.
  stats_head_.reset();
  if (s.stats_head != VirtioBalloonState::kNoStatsHead) stats_head_ = uint16_t(s.stats_head);
}

}  // namespace insula::virtio
