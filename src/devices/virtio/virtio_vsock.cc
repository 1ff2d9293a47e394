// VirtioVsock: packets between the guest's queues and host unix sockets.
#include "devices/virtio/virtio_vsock.h"

#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>

#include "base/error.h"
#include "base/log.h"

namespace insula::virtio {

namespace {
constexpr size_t kRx = 0, kTx = 1;
constexpr uint32_t kBufAlloc = 256 * 1024;  // what we let the guest have in flight per connection
constexpr size_t kMaxPayload = 64 * 1024;
constexpr size_t kMaxConnectLine = 32;

sockaddr_un unix_address(const std::string& path) {
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  if (path.size() >= sizeof a.sun_path) throw error("vsock: unix socket path '{}' is too long", path);
  std::memcpy(a.sun_path, path.c_str(), path.size());
  return a;
}
}  // namespace

VirtioVsock::VirtioVsock(uint64_t guest_cid, std::string uds_path, EventLoop* loop)
    : guest_cid_(guest_cid), uds_path_(std::move(uds_path)), loop_(loop) {
  if (guest_cid_ <= 2 || guest_cid_ >= 0xffffffffull) throw error("vsock: guest CID {} must be in 3..2^32-2", guest_cid_);
  if (!loop_) throw error("vsock: needs an event loop");
  sockaddr_un a = unix_address(uds_path_);
  struct stat st;
  if (::stat(uds_path_.c_str(), &st) == 0 && S_ISSOCK(st.st_mode)) ::unlink(uds_path_.c_str());
  listener_.reset(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!listener_) throw errno_error("vsock: creating unix socket");
  if (::bind(listener_.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) < 0)
    throw errno_error(fmt::format("vsock: binding {} (does the path exist already?)", uds_path_));
  if (::listen(listener_.get(), 64) < 0) throw errno_error(fmt::format("vsock: listening on {}", uds_path_));
}

VirtioVsock::~VirtioVsock() {
  std::lock_guard lock(mu_);
  while (!conns_.empty()) close_locked(conns_.begin()->first, false);
  if (listening_) loop_->remove(listener_.get());
  ::unlink(uds_path_.c_str());
}

void VirtioVsock::start() {
  std::lock_guard lock(mu_);
  if (listening_) return;
  std::weak_ptr<VirtioVsock> weak = weak_from_this();
  loop_->add(listener_.get(), [weak](uint32_t) {
    if (auto self = weak.lock()) self->on_listener();
  });
  listening_ = true;
}

void VirtioVsock::read_config(uint64_t offset, std::span<uint8_t> data) { read_config_bytes(guest_cid_, offset, data); }

void VirtioVsock::activate(VirtioHost& host) {
  std::lock_guard lock(mu_);
  host_ = &host;
}

void VirtioVsock::reset() {
  std::lock_guard lock(mu_);
  host_ = nullptr;
  while (!conns_.empty()) close_locked(conns_.begin()->first, false);
  ctrl_.clear();
}

size_t VirtioVsock::connection_count() const {
  std::lock_guard lock(mu_);
  return conns_.size();
}

void VirtioVsock::queue_ctrl_locked(const Conn* c, uint32_t local_port, uint32_t peer_port, VsockOp op,
                                    uint32_t flags) {
  VsockHeader h{};
  h.src_cid = kVsockHostCid;
  h.dst_cid = guest_cid_;
  h.src_port = local_port;
  h.dst_port = peer_port;
  h.type = kVsockTypeStream;
  h.op = uint16_t(op);
  h.flags = flags;
  h.buf_alloc = kBufAlloc;
  h.fwd_cnt = c ? c->fwd_cnt : 0;
  ctrl_.push_back(h);
}

void VirtioVsock::update_watch_locked(Key key, Conn& c) {
  uint32_t want = 0;
  if (c.state == ConnState::kReadingConnect) want = EPOLLIN;
  if (c.state == ConnState::kEstablished) {
    if (!c.host_eof && !c.guest_rcv_shut && peer_credit(c) > 0) want |= EPOLLIN;
    if (!c.to_host.empty()) want |= EPOLLOUT;
  }
  if (want == c.watched) return;
  if (c.watched) loop_->remove(c.fd.get());
  c.watched = want;
  by_fd_[c.fd.get()] = key;
  if (!want) return;
  std::weak_ptr<VirtioVsock> weak = weak_from_this();
  int fd = c.fd.get();
  loop_->add(
      fd,
      [weak, fd](uint32_t events) {
        if (auto self = weak.lock()) self->on_conn_event(fd, events);
      },
      want);
}

void VirtioVsock::close_locked(Key key, bool send_rst) {
  auto it = conns_.find(key);
  if (it == conns_.end()) return;
  Conn& c = it->second;
  if (c.watched) loop_->remove(c.fd.get());
  by_fd_.erase(c.fd.get());
  if (send_rst && c.state != ConnState::kReadingConnect) queue_ctrl_locked(&c, key.first, key.second, VsockOp::kRst);
  conns_.erase(it);
}

void VirtioVsock::on_listener() {
  std::lock_guard lock(mu_);
  for (;;) {
    UniqueFd fd(::accept4(listener_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
    if (!fd) return;
    if (!host_) continue;  // guest driver not running: refuse by closing
    uint32_t port = next_port_++;
    if (next_port_ == 0) next_port_ = 1u << 30;
    Key key{port, 0};
    Conn& c = conns_[key];
    c.fd = std::move(fd);
    c.local_port = port;
    update_watch_locked(key, c);
  }
}

void VirtioVsock::on_conn_event(int fd, uint32_t events) {
  std::lock_guard lock(mu_);
  auto k = by_fd_.find(fd);
  if (k == by_fd_.end() || !host_) return;
  Key key = k->second;
  auto it = conns_.find(key);
  if (it == conns_.end()) return;
  Conn& c = it->second;
  if (c.state == ConnState::kReadingConnect) {
    char ch;
    for (;;) {
      ssize_t n = ::read(c.fd.get(), &ch, 1);
      if (n < 0 && errno == EAGAIN) return;
      if (n <= 0 || c.line.size() >= kMaxConnectLine) {
        close_locked(key, false);
        return;
      }
      if (ch != '\n') {
        c.line.push_back(ch);
        continue;
      }
      uint32_t port = 0;
      const char* b = c.line.data() + 8;
      const char* e = c.line.data() + c.line.size();
      if (c.line.rfind("CONNECT ", 0) != 0 || std::from_chars(b, e, port).ptr != e) {
        INSULA_LOG_WARN("vsock: bad host request '{}' on {}", c.line, uds_path_);
        close_locked(key, false);
        return;
      }
      // Re-key under the guest port and ask the guest.
      auto node = conns_.extract(it);
      node.key() = Key{c.local_port, port};
      node.mapped().peer_port = port;
      node.mapped().state = ConnState::kConnecting;
      auto res = conns_.insert(std::move(node));
      if (!res.inserted) return;  // cannot happen: local ports are unique
      Conn& nc = res.position->second;
      update_watch_locked(res.position->first, nc);
      queue_ctrl_locked(&nc, nc.local_port, nc.peer_port, VsockOp::kRequest);
      fill_rx_locked();
      return;
    }
  }
  if ((events & EPOLLOUT) && !flush_to_host_locked(c)) {
    close_locked(key, true);
    fill_rx_locked();
    return;
  }
  if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) fill_rx_locked();
  if (conns_.count(key)) update_watch_locked(key, conns_[key]);
}

bool VirtioVsock::flush_to_host_locked(Conn& c) {
  size_t done = 0;
  bool alive = true;
  while (done < c.to_host.size()) {
    ssize_t n = ::send(c.fd.get(), c.to_host.data() + done, c.to_host.size() - done, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) break;  // the EPOLLOUT watch resumes it
    if (n <= 0) {
      alive = false;
      break;
    }
    done += size_t(n);
  }
  c.to_host.erase(c.to_host.begin(), c.to_host.begin() + ptrdiff_t(done));
  size_t ours = std::min(done, c.uncounted);
  c.uncounted -= ours;
  c.fwd_cnt += uint32_t(done - ours);
  return alive;
}

void VirtioVsock::fill_rx_locked() {
  if (!host_) return;
  Virtqueue& vq = host_->queue(kRx);
  const GuestMemory& mem = host_->memory();
  bool used = false;
  auto next_chain = [&](DescChain& chain) {
    std::string why;
    auto r = vq.pop(mem, chain, why);
    if (r == Virtqueue::Pop::kError) host_->device_error(why);
    return r == Virtqueue::Pop::kChain;
  };
  // Control packets first: they are small and unblock the guest.
  while (!ctrl_.empty()) {
    DescChain chain;
    if (!next_chain(chain)) goto done;
    ChainWriter w(mem, chain.writable);
    w.write(&ctrl_.front(), sizeof(VsockHeader));
    vq.add_used(mem, chain.head, uint32_t(w.written()));
    used = true;
    ctrl_.pop_front();
  }
  // Then data from every established connection with credit.
  for (auto it = conns_.begin(); it != conns_.end();) {
    Key key = it->first;
    Conn& c = it->second;
    ++it;
    if (c.state != ConnState::kEstablished || c.host_eof || c.guest_rcv_shut) continue;
    while (peer_credit(c) > 0) {
      DescChain chain;
      if (!next_chain(chain)) goto done;
      if (chain.writable_len <= sizeof(VsockHeader)) {
        vq.undo_pop();
        goto done;  // useless buffer; wait for the driver's usual ones
      }
      std::vector<uint8_t> buf(std::min<uint64_t>({chain.writable_len - sizeof(VsockHeader), kMaxPayload, peer_credit(c)}));
      ssize_t n = ::recv(c.fd.get(), buf.data(), buf.size(), MSG_DONTWAIT);
      if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
        vq.undo_pop();
        break;
      }
      VsockHeader h{kVsockHostCid, guest_cid_, c.local_port, c.peer_port, 0, kVsockTypeStream, 0, 0, kBufAlloc, c.fwd_cnt};
      if (n <= 0) {
        // Host closed: tell the guest neither side will send any more.
        h.op = uint16_t(VsockOp::kShutdown);
        h.flags = kVsockShutdownRcv | kVsockShutdownSend;
        c.host_eof = true;
      } else {
        h.op = uint16_t(VsockOp::kRw);
        h.len = uint32_t(n);
        c.tx_cnt += uint32_t(n);
      }
      c.last_fwd_reported = c.fwd_cnt;
      ChainWriter w(mem, chain.writable);
      w.write(&h, sizeof h);
      if (n > 0) w.write(buf.data(), size_t(n));
      vq.add_used(mem, chain.head, uint32_t(w.written()));
      used = true;
      if (c.host_eof) break;
    }
    update_watch_locked(key, c);
  }
done:
  if (used) host_->signal_used(kRx);
}

void VirtioVsock::handle_packet_locked(const VsockHeader& h, std::vector<uint8_t> payload) {
  Key key{h.dst_port, h.src_port};
  auto it = conns_.find(key);
  Conn* c = it == conns_.end() ? nullptr : &it->second;
  if (h.src_cid != guest_cid_ || h.dst_cid != kVsockHostCid || h.type != kVsockTypeStream) {
    if (h.op != uint16_t(VsockOp::kRst)) queue_ctrl_locked(nullptr, h.dst_port, h.src_port, VsockOp::kRst);
    return;
  }
  if (c) {
    c->peer_buf_alloc = h.buf_alloc;
    c->peer_fwd_cnt = h.fwd_cnt;
  }
  switch (VsockOp(h.op)) {
    case VsockOp::kRequest: {
      if (c) {
        close_locked(key, true);
        return;
      }
      std::string path = fmt::format("{}_{}", uds_path_, h.dst_port);
      // Non-blocking: a host listener with a full backlog gets the guest an
      // RST (EAGAIN) instead of stalling the notify thread.
      UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
      sockaddr_un a{};
      bool ok = fd && path.size() < sizeof a.sun_path;
      if (ok) {
        a = unix_address(path);
        ok = ::connect(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
      }
      if (!ok) {
        queue_ctrl_locked(nullptr, h.dst_port, h.src_port, VsockOp::kRst);
        return;
      }
      Conn& nc = conns_[key];
      nc.fd = std::move(fd);
      nc.state = ConnState::kEstablished;
      nc.local_port = h.dst_port;
      nc.peer_port = h.src_port;
      nc.peer_buf_alloc = h.buf_alloc;
      nc.peer_fwd_cnt = h.fwd_cnt;
      queue_ctrl_locked(&nc, key.first, key.second, VsockOp::kResponse);
      update_watch_locked(key, nc);
      return;
    }
    case VsockOp::kResponse:
      if (!c || c->state != ConnState::kConnecting) {
        if (c) close_locked(key, true);
        else queue_ctrl_locked(nullptr, h.dst_port, h.src_port, VsockOp::kRst);
        return;
      }
      c->state = ConnState::kEstablished;
      {
        std::string ok = fmt::format("OK {}\n", c->local_port);
        c->to_host.insert(c->to_host.begin(), ok.begin(), ok.end());
        c->uncounted += ok.size();
        if (!flush_to_host_locked(*c)) {
          close_locked(key, true);
          return;
        }
      }
      update_watch_locked(key, *c);
      return;
    case VsockOp::kRw:
      if (!c || c->state != ConnState::kEstablished) {
        if (!c) queue_ctrl_locked(nullptr, h.dst_port, h.src_port, VsockOp::kRst);
        return;
      }
      if (c->to_host.size() + payload.size() > kBufAlloc) {
        // The guest ignored our credit: drop the connection.
        close_locked(key, true);
        return;
      }
      c->to_host.insert(c->to_host.end(), payload.begin(), payload.end());
      if (!flush_to_host_locked(*c)) {
        close_locked(key, true);
        return;
      }
      if (c->fwd_cnt - c->last_fwd_reported >= kBufAlloc / 2) {
        queue_ctrl_locked(c, key.first, key.second, VsockOp::kCreditUpdate);
        c->last_fwd_reported = c->fwd_cnt;
      }
      update_watch_locked(key, *c);
      return;
    case VsockOp::kShutdown:
      if (!c) return;
      // The flags are permanent hints that add up (virtio 1.2, 5.10.6.6):
      // RCV alone means no more data to the guest (what the host still
      // writes stays in its socket), SEND alone a half-close to the host,
      // both a full close answered with RST.
      if (h.flags & kVsockShutdownRcv) c->guest_rcv_shut = true;
      if (h.flags & kVsockShutdownSend) c->guest_send_shut = true;
      flush_to_host_locked(*c);
      if (c->guest_rcv_shut && c->guest_send_shut) {
        close_locked(key, true);
        return;
      }
      if (c->guest_send_shut) ::shutdown(c->fd.get(), SHUT_WR);
      update_watch_locked(key, *c);
      return;
    case VsockOp::kRst:
      if (c) close_locked(key, false);
      return;
    case VsockOp::kCreditUpdate:
      if (c) update_watch_locked(key, *c);
      return;
    case VsockOp::kCreditRequest:
      if (c) queue_ctrl_locked(c, key.first, key.second, VsockOp::kCreditUpdate);
      return;
    default:
      if (c) close_locked(key, true);
      return;
  }
}

void VirtioVsock::process_tx_locked() {
  const GuestMemory& mem = host_->memory();
  serve_queue(*host_, kTx, [&](const DescChain& chain) -> uint32_t {
    ChainReader reader(mem, chain.readable);
    VsockHeader h;
    if (reader.read_obj(h)) {
      uint64_t len = std::min<uint64_t>({h.len, reader.remaining(), kMaxPayload});
      std::vector<uint8_t> payload(len);
      reader.read(payload.data(), len);
      handle_packet_locked(h, std::move(payload));
    }
    return 0;
  });
  fill_rx_locked();  // replies and credit updates
}

void VirtioVsock::queue_notify(size_t queue) {
  std::lock_guard lock(mu_);
  if (!host_) return;
  if (queue == kTx) process_tx_locked();
  if (queue == kRx) fill_rx_locked();
  // The event queue carries only device->driver transport resets; nothing to do.
}

VirtioVsockState VirtioVsock::save() const { return VirtioVsockState{VirtioVsockState::kVersion, guest_cid_}; }

void VirtioVsock::restore(const VirtioVsockState& s) {
  if (s.version != VirtioVsockState::kVersion || s.guest_cid != guest_cid_)
    throw error("vsock: saved state (version {}, CID {}) does not match this device (CID {})", s.version, s.guest_cid,
                guest_cid_);
}

}  // namespace insula::virtio
