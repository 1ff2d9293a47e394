// VirtioConsole: transmit to out_fd, receive from in_fd, one port.
#include "devices/virtio/virtio_console.h"

#include <unistd.h>

#include <cerrno>

#include "base/error.h"
#include "base/log.h"

namespace insula::virtio {

namespace {
constexpr size_t kRx = 0, kTx = 1;

struct ConsoleConfig {
  uint16_t cols;
  uint16_t rows;
  uint32_t max_nr_ports;
  uint32_t emerg_wr;
};
}  // namespace

VirtioConsole::VirtioConsole(int in_fd, int out_fd, EventLoop* loop, uint16_t cols, uint16_t rows)
    : in_fd_(in_fd), out_fd_(out_fd), loop_(loop), cols_(cols), rows_(rows) {
  if (in_fd_ >= 0 && !loop_) throw error("virtio-console: an input fd needs an event loop");
}

VirtioConsole::~VirtioConsole() {
  std::lock_guard lock(mu_);
  watch_locked(false);
}

void VirtioConsole::read_config(uint64_t offset, std::span<uint8_t> data) {
  std::lock_guard lock(mu_);
  read_config_bytes(ConsoleConfig{cols_, rows_, 1, 0}, offset, data);
}

void VirtioConsole::write_config(uint64_t offset, std::span<const uint8_t> data) {
  // emerg_wr (offset 8): one character written before the queues work.
  if (offset == 8 && !data.empty()) write_out(data.data(), 1);
}

void VirtioConsole::write_out(const uint8_t* data, size_t len) {
  while (len) {
    ssize_t n = ::write(out_fd_, data, len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      INSULA_LOG_WARN("virtio-console: writing guest output to fd {} failed; output dropped", out_fd_);
      return;
    }
    data += n;
    len -= size_t(n);
  }
}

void VirtioConsole::watch_locked(bool on) {
  if (!loop_ || in_fd_ < 0 || on == watching_) return;
  if (on) {
    std::weak_ptr<VirtioConsole> weak = weak_from_this();
    loop_->add(in_fd_, [weak](uint32_t) {
      if (auto self = weak.lock()) self->on_input();
    });
  } else {
    loop_->remove(in_fd_);
  }
  watching_ = on;
}

void VirtioConsole::activate(VirtioHost& host) {
  std::lock_guard lock(mu_);
  host_ = &host;
  if (!eof_ && pending_.size() < kMaxPending) watch_locked(true);
}

void VirtioConsole::reset() {
  std::lock_guard lock(mu_);
  host_ = nullptr;
  watch_locked(false);
}

void VirtioConsole::on_input() {
  std::lock_guard lock(mu_);
  if (!host_) return;
  uint8_t buf[4096];
  size_t room = std::min(sizeof buf, kMaxPending - pending_.size());
  ssize_t n = ::read(in_fd_, buf, room);
  if (n < 0 && (errno == EINTR || errno == EAGAIN)) return;
  if (n <= 0) {
    eof_ = true;  // input closed: stop watching for good
    watch_locked(false);
  } else {
    pending_.insert(pending_.end(), buf, buf + n);
  }
  deliver_locked();
  if (pending_.size() >= kMaxPending) watch_locked(false);
}

void VirtioConsole::deliver_locked() {
  if (!host_) return;
  Virtqueue& vq = host_->queue(kRx);
  const GuestMemory& mem = host_->memory();
  bool used = false;
  while (!pending_.empty()) {
    DescChain chain;
    std::string why;
    auto r = vq.pop(mem, chain, why);
    if (r == Virtqueue::Pop::kError) {
      host_->device_error(why);
      break;
    }
    if (r == Virtqueue::Pop::kEmpty) break;
    ChainWriter w(mem, chain.writable);
    size_t n = std::min<uint64_t>(pending_.size(), chain.writable_len);
    // deque is not contiguous: copy in pieces.
    uint8_t tmp[4096];
    size_t done = 0;
    while (done < n) {
      size_t k = std::min(sizeof tmp, n - done);
      std::copy(pending_.begin() + ptrdiff_t(done), pending_.begin() + ptrdiff_t(done + k), tmp);
      w.write(tmp, k);
      done += k;
    }
    pending_.erase(pending_.begin(), pending_.begin() + ptrdiff_t(n));
    vq.add_used(mem, chain.head, uint32_t(n));
    used = true;
  }
  if (used) host_->signal_used(kRx);
}

void VirtioConsole::transmit_locked() {
  const GuestMemory& mem = host_->memory();
  serve_queue(*host_, kTx, [&](const DescChain& chain) -> uint32_t {
    for (const Buffer& b : chain.readable)
      if (const uint8_t* p = mem.host_ptr(b.addr, b.len)) write_out(p, b.len);
    return 0;
  });
}

void VirtioConsole::queue_notify(size_t queue) {
  std::lock_guard lock(mu_);
  if (!host_) return;
  if (queue == kTx) {
    transmit_locked();
  } else if (queue == kRx) {
    deliver_locked();
    if (!eof_ && pending_.size() < kMaxPending) watch_locked(true);
  }
}

void VirtioConsole::resize(uint16_t cols, uint16_t rows) {
  std::lock_guard lock(mu_);
  cols_ = cols;
  rows_ = rows;
  if (host_) host_->signal_config();
}

VirtioConsoleState VirtioConsole::save() const {
  std::lock_guard lock(mu_);
  return VirtioConsoleState{VirtioConsoleState::kVersion, {pending_.begin(), pending_.end()}};
}

void VirtioConsole::restore(const VirtioConsoleState& state) {
  if (state.version != VirtioConsoleState::kVersion)
    throw error("virtio-console: saved state version {} unknown", state.version);
  std::lock_guard lock(mu_);
  pending_.assign(state.pending_input.begin(), state.pending_input.end());
}

}  // namespace insula::virtio
