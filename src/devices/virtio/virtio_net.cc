// VirtioNet: frames between the tap and the guest's receive/transmit queues.
#include "devices/virtio/virtio_net.h"

#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "base/env.h"
#include "base/error.h"
#include "base/log.h"

namespace insula::virtio {

namespace {
constexpr size_t kRx = 0, kTx = 1;
constexpr size_t kMaxFrame = kNetHdrSize + 65535 + 14;  // GSO frames up to 64 KiB
constexpr size_t kMaxEthernetFrame = 1514;  // MTU 1500 + header: larger is GSO
constexpr size_t kMaxIov = 1024;

// Copies len bytes to byte offset off of a chain's writable buffers (a
// header field may straddle two descriptors); false when they are too short.
bool write_at(const GuestMemory& mem, const std::vector<Buffer>& bufs, uint64_t off, const void* src, size_t len) {
  const auto* p = static_cast<const uint8_t*>(src);
  for (const Buffer& b : bufs) {
    if (len == 0) break;
    if (off >= b.len) {
      off -= b.len;
      continue;
    }
    size_t n = std::min<uint64_t>(len, b.len - off);
    if (!mem.write(b.addr + off, p, n)) return false;
    p += n;
    len -= n;
    off = 0;
  }
  return len == 0;
}

#pragma pack(push, 1)
struct NetConfig {
  uint8_t mac[6];
  uint16_t status;
  uint16_t max_virtqueue_pairs;
  uint16_t mtu;
};
#pragma pack(pop)
}  // namespace

VirtioNet::VirtioNet(Tap tap, MacAddress mac, EventLoop* loop, const RateLimiterConfig& rx,
                     const RateLimiterConfig& tx)
    : tap_(std::move(tap)), loop_(loop), mac_(mac), frame_(kMaxFrame), iov_(kMaxIov) {
  if (!loop_) throw error("virtio-net: needs an event loop to watch tap '{}'", tap_.name());
  log_counters_ = env_flag("INSULA_NET_STATS");
  rx_limiter_ = std::make_unique<RateLimiter>(rx, loop_, [this] { queue_notify(kRx); });
  tx_limiter_ = std::make_unique<RateLimiter>(tx, loop_, [this] { queue_notify(kTx); });
}

void VirtioNet::set_rate_limiters(const std::optional<RateLimiterConfig>& rx, const std::optional<RateLimiterConfig>& tx) {
  if (rx) rx_limiter_->update(*rx);
  if (tx) tx_limiter_->update(*tx);
}

VirtioNet::~VirtioNet() {
  std::lock_guard lock(mu_);
  log_counters_locked();
  watch_locked(false);
}

void VirtioNet::log_counters() {
  std::lock_guard lock(mu_);
  log_counters_locked();
}

void VirtioNet::log_counters_locked() {
  if (!log_counters_ || !host_) return;
  const VirtioNetCounters& c = counters_;
  // At warning level: asked for with INSULA_NET_STATS, so shown by default.
  INSULA_LOG_WARN(
      "virtio-net stats: rx {} frames ({} direct, {} bounced, {} dropped) in {} batches, {} tap wakeups, {} rx kicks, "
      "{} stalls; tx {} frames ({} dropped) in {} batches, {} tx kicks",
      rx_frames_, c.rx_direct, c.rx_bounced, rx_dropped_, c.rx_batches, c.rx_wakeups, c.rx_kicks, c.rx_stalls, tx_frames_,
      tx_dropped_, c.tx_batches, c.tx_kicks);
}

uint64_t VirtioNet::features() const {
  return kNetFCsum | kNetFGuestCsum | kNetFMac | kNetFGuestTso4 | kNetFGuestTso6 | kNetFGuestEcn | kNetFHostTso4 |
         kNetFHostTso6 | kNetFHostEcn | kNetFMrgRxbuf | kNetFStatus;
}

void VirtioNet::read_config(uint64_t offset, std::span<uint8_t> data) {
  std::lock_guard lock(mu_);
  NetConfig c{};
  std::memcpy(c.mac, mac_.data(), 6);
  c.status = link_up_ ? kNetSLinkUp : 0;
  c.max_virtqueue_pairs = 1;
  c.mtu = 1500;
  read_config_bytes(c, offset, data);
}

void VirtioNet::watch_locked(bool on) {
  if (on == watching_) return;
  if (on) {
    std::weak_ptr<VirtioNet> weak = weak_from_this();
    loop_->add(tap_.fd(), [weak](uint32_t) {
      if (auto self = weak.lock()) self->on_tap_readable();
    });
  } else {
    loop_->remove(tap_.fd());
  }
  watching_ = on;
}

void VirtioNet::activate(VirtioHost& host) {
  std::lock_guard lock(mu_);
  host_ = &host;
  uint64_t f = host.acked_features();
  mergeable_ = f & kNetFMrgRxbuf;
  guest_csum_ = f & kNetFGuestCsum;
  // What the guest can receive decides what the tap may hand us.
  unsigned offload = 0;
  if (f & kNetFGuestCsum) {
    offload |= kTunOffloadCsum;
    if (f & kNetFGuestTso4) offload |= kTunOffloadTso4;
    if (f & kNetFGuestTso6) offload |= kTunOffloadTso6;
    if ((f & kNetFGuestEcn) && (offload & (kTunOffloadTso4 | kTunOffloadTso6))) offload |= kTunOffloadTsoEcn;
  }
  try {
    tap_.set_offload(offload);
  } catch (const Error& e) {
    INSULA_LOG_WARN("virtio-net: {}", e.what());
  }
  watch_locked(true);
}

void VirtioNet::reset() {
  std::lock_guard lock(mu_);
  log_counters_locked();
  host_ = nullptr;
  watch_locked(false);
  frame_len_ = 0;
}

void VirtioNet::on_tap_readable() {
  std::lock_guard lock(mu_);
  counters_.rx_wakeups++;
  receive_locked();
}

VirtioNet::Direct VirtioNet::receive_direct_locked(bool& used) {
  Virtqueue& vq = host_->queue(kRx);
  const GuestMemory& mem = host_->memory();
  // Take buffers until they can hold the largest frame. Without mergeable
  // buffers a frame must fit one chain.
  size_t popped = 0, niov = 0;
  uint64_t room = 0;
  while (room < kMaxFrame && (mergeable_ || popped == 0)) {
    if (popped == rx_chains_.size()) rx_chains_.emplace_back();
    DescChain& c = rx_chains_[popped];
    std::string why;
    auto r = vq.pop(mem, c, why);
    if (r == Virtqueue::Pop::kError) {
      host_->device_error(why);
      return Direct::kBroken;
    }
    if (r == Virtqueue::Pop::kEmpty) break;
    popped++;
    // A chain too small for the header, or more segments than one readv
    // takes: the copying path sorts it out (it drops such frames).
    if ((popped == 1 && c.writable_len < kNetHdrSize) || niov + c.writable.size() > kMaxIov) {
      room = 0;
      break;
    }
    for (const Buffer& b : c.writable) iov_[niov++] = iovec{mem.host_ptr(b.addr, b.len), b.len};
    room += c.writable_len;
  }
  if (room < kMaxFrame) {
    vq.undo_pop(uint16_t(popped));
    return Direct::kNoRoom;
  }
  ssize_t n;
  do {
    n = ::readv(tap_.fd(), iov_.data(), int(niov));
  } while (n < 0 && errno == EINTR);
  if (n < ssize_t(kNetHdrSize)) {
    // Nothing more (EAGAIN), the tap went away (0, an error), or a runt: the
    // buffers go back unused. A runt is dropped; reading on is the caller's.
    vq.undo_pop(uint16_t(popped));
    return n < 0 || n == 0 ? Direct::kDrained : Direct::kDone;
  }
  // The frame filled chains in order: each gets what landed in it.
  rx_elems_.clear();
  uint64_t left = uint64_t(n);
  for (size_t i = 0; i < popped && left; i++) {
    uint32_t len = uint32_t(std::min<uint64_t>(left, rx_chains_[i].writable_len));
    rx_elems_.emplace_back(rx_chains_[i].head, len);
    left -= len;
  }
  vq.undo_pop(uint16_t(popped - rx_elems_.size()));
  const std::vector<Buffer>& head = rx_chains_[0].writable;
  // num_buffers (header offset 10) is the device's to fill; without
  // GUEST_CSUM the flags must be 0 (see receive_locked).
  uint16_t num_buffers = uint16_t(rx_elems_.size());
  write_at(mem, head, 10, &num_buffers, 2);
  const uint8_t no_flags = 0;
  if (!guest_csum_) write_at(mem, head, 0, &no_flags, 1);
  vq.add_used_many(mem, rx_elems_);
  used = true;
  rx_frames_++;
  counters_.rx_direct++;
  return Direct::kDone;
}

bool VirtioNet::deliver_frame_locked(bool& used) {
  Virtqueue& vq = host_->queue(kRx);
  const GuestMemory& mem = host_->memory();
  std::vector<std::pair<uint16_t, uint32_t>>& elems = rx_elems_;
  elems.clear();
  size_t nchains = 0;
  size_t off = 0;
  while (off < frame_len_) {
    if (nchains == rx_chains_.size()) rx_chains_.emplace_back();
    DescChain& chain = rx_chains_[nchains];
    std::string why;
    auto r = vq.pop(mem, chain, why);
    if (r == Virtqueue::Pop::kError) {
      host_->device_error(why);
      frame_len_ = 0;
      return false;
    }
    if (r == Virtqueue::Pop::kEmpty) {
      vq.undo_pop(uint16_t(nchains));  // wait for enough buffers
      return false;
    }
    if (chain.writable_len < (nchains == 0 ? kNetHdrSize : 1) || (!mergeable_ && chain.writable_len < frame_len_)) {
      // Too small for the header (or, without mergeable buffers, the frame):
      // the frame is dropped, the buffers go back unused.
      vq.undo_pop(uint16_t(nchains + 1));
      rx_dropped_++;
      frame_len_ = 0;
      return true;
    }
    size_t n = std::min<uint64_t>(frame_len_ - off, chain.writable_len);
    elems.emplace_back(chain.head, uint32_t(n));
    nchains++;
    off += n;
  }
  // num_buffers (header offset 10) is known only now.
  uint16_t num_buffers = uint16_t(nchains);
  std::memcpy(&frame_[10], &num_buffers, 2);
  off = 0;
  for (size_t i = 0; i < nchains; i++) {
    ChainWriter w(mem, rx_chains_[i].writable);
    w.write(&frame_[off], elems[i].second);
    off += elems[i].second;
  }
  vq.add_used_many(mem, elems);
  used = true;
  rx_frames_++;
  frame_len_ = 0;
  return true;
}

void VirtioNet::receive_locked() {
  if (!host_) return;
  bool used = false;
  // A limited receive charges each frame before the guest sees it, so it
  // reads into the bounce buffer (the direct path writes guest memory first).
  const bool limited = rx_limiter_->config().enabled();
  for (;;) {
    if (frame_len_ == 0) {
      if (!limited) {
        Direct d = receive_direct_locked(used);
        if (d == Direct::kDone) continue;
        if (d != Direct::kNoRoom) break;
      }
      ssize_t n = ::read(tap_.fd(), frame_.data(), frame_.size());
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;  // EAGAIN: drained (or the tap went away)
      if (size_t(n) < kNetHdrSize) continue;
      frame_len_ = size_t(n);
      frame_charged_ = false;
      counters_.rx_bounced++;
      // Without GUEST_CSUM the header's flags must be 0 (virtio 1.2 5.1.6.4.1),
      // but the tap still marks DATA_VALID a frame whose checksum a NIC on a
      // bridge verified.
      if (!guest_csum_) frame_[0] = 0;
    }
    if (!frame_charged_) {
      if (!rx_limiter_->try_take(frame_len_ - kNetHdrSize)) {
        watch_locked(false);  // the frame waits; the limiter's timer calls back
        break;
      }
      frame_charged_ = true;
    }
    if (!deliver_frame_locked(used)) {
      // No room in the guest: stop reading until it posts buffers.
      if (frame_len_) {
        counters_.rx_stalls++;
        watch_locked(false);
      }
      break;
    }
  }
  if (used) {
    counters_.rx_batches++;
    host_->signal_used(kRx);
  }
}

// A sent GSO frame (more than one Ethernet frame) is offered back to the
// guest at once, not after the writev of the rest of the batch (subject to
// its EVENT_IDX): Linux's TCP keeps a socket's bytes charged against its
// small-queue limit until their tx buffers come back, so late completions
// hold a bulk sender back. Small frames (ACKs, mostly) wait for the batch's
// one interrupt: an interrupt each cost the receiving guest 2-20% of its
// host->guest throughput when every frame signalled (bench/devices/RESULTS.md).
void VirtioNet::transmit_locked() {
  const GuestMemory& mem = host_->memory();
  iovec* iov = iov_.data();
  bool used = false;
  serve_queue(*host_, kTx, [&](const DescChain& chain) -> uint32_t {
    used = true;
    size_t n = 0;
    for (const Buffer& b : chain.readable) {
      if (n == kMaxIov) break;
      if (b.len) iov[n++] = iovec{mem.host_ptr(b.addr, b.len), b.len};
    }
    if (chain.readable_len < kNetHdrSize || n == kMaxIov) {
      tx_dropped_++;
    } else {
      ssize_t w;
      do {
        w = ::writev(tap_.fd(), iov, int(n));
      } while (w < 0 && errno == EINTR);
      // A full tap queue (EAGAIN) drops the frame, as a NIC would.
      if (w < 0)
        tx_dropped_++;
      else
        tx_frames_++;
    }
    return 0;
  }, [&](const DescChain& chain) {
    return tx_limiter_->try_take(chain.readable_len > kNetHdrSize ? chain.readable_len - kNetHdrSize : 0);
  }, [](const DescChain& chain) { return chain.readable_len > kNetHdrSize + kMaxEthernetFrame; });
  if (used) counters_.tx_batches++;
}

void VirtioNet::queue_notify(size_t queue) {
  std::lock_guard lock(mu_);
  if (!host_) return;
  if (queue == kTx) {
    counters_.tx_kicks++;
    transmit_locked();
  } else if (queue == kRx) {
    counters_.rx_kicks++;
    receive_locked();
    watch_locked(true);
  }
}

void VirtioNet::set_link(bool up) {
  std::lock_guard lock(mu_);
  link_up_ = up;
  if (host_) host_->signal_config();
}

VirtioNetCounters VirtioNet::counters() const {
  std::lock_guard lock(mu_);
  return counters_;
}

VirtioNetState VirtioNet::save() const {
  std::lock_guard lock(mu_);
  return VirtioNetState{VirtioNetState::kVersion, mac_, link_up_, rx_frames_, tx_frames_, rx_dropped_, tx_dropped_};
}

void VirtioNet::restore(const VirtioNetState& s) {
  if (s.version != VirtioNetState::kVersion) throw error("virtio-net: saved state version {} unknown", s.version);
  std::lock_guard lock(mu_);
  mac_ = s.mac;
  link_up_ = s.link_up;
  rx_frames_ = s.rx_frames;
  tx_frames_ = s.tx_frames;
  rx_dropped_ = s.rx_dropped;
  tx_dropped_ = s.tx_dropped;
}

}  // namespace insula::virtio
