// VirtioRng: fills each device-writable buffer with getrandom() bytes.
#include "devices/virtio/virtio_rng.h"

#include <sys/random.h>

#include <cerrno>

#include "base/error.h"

namespace insula::virtio {

void VirtioRng::activate(VirtioHost& host) {
  std::lock_guard lock(mu_);
  host_ = &host;
}

void VirtioRng::reset() {
  std::lock_guard lock(mu_);
  host_ = nullptr;
}

void VirtioRng::queue_notify(size_t queue) {
  std::lock_guard lock(mu_);
  if (!host_ || queue != 0) return;
  const GuestMemory& mem = host_->memory();
  serve_queue(*host_, 0, [&](const DescChain& chain) -> uint32_t {
    uint32_t written = 0;
    for (const Buffer& b : chain.writable) {
      uint8_t* p = mem.host_ptr(b.addr, b.len);  // checked by pop
      uint32_t done = 0;
      while (p && done < b.len) {
        ssize_t n = getrandom(p + done, b.len - done, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        done += uint32_t(n);
      }
      written += done;
      if (done < b.len) break;
    }
    bytes_served_ += written;
    return written;
  });
}

VirtioRngState VirtioRng::save() const {
  std::lock_guard lock(mu_);
  return VirtioRngState{VirtioRngState::kVersion, bytes_served_};
}

void VirtioRng::restore(const VirtioRngState& state) {
  if (state.version != VirtioRngState::kVersion) throw error("virtio-rng: saved state version {} unknown", state.version);
  std::lock_guard lock(mu_);
  bytes_served_ = state.bytes_served;
}

}  // namespace insula::virtio
