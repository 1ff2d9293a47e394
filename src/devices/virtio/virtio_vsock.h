// VirtioVsock: the virtio socket device (virtio 1.2, 5.10), stream sockets
// only, with a Firecracker-style host side on unix sockets:
//
//  - host -> guest: a host program connects to uds_path and writes
//    "CONNECT <port>\n"; once the guest accepts, it reads "OK <host_port>\n"
//    and the stream is connected to the guest's listener on <port>.
//  - guest -> host: a guest connect() to CID 2 port P is connected to the
//    unix socket "<uds_path>_<P>" (which a host program listens on).
//
// All socket work happens on the EventLoop thread or the notifying thread,
// under one lock. Credit-based flow control (buf_alloc/fwd_cnt) keeps
// either side from sending more than the other has room for.
#pragma once

#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "base/event_loop.h"
#include "base/fd.h"
#include "devices/virtio/virtio_device.h"

namespace insula::virtio {

inline constexpr uint64_t kVsockHostCid = 2;

#pragma pack(push, 1)
struct VsockHeader {
  uint64_t src_cid;
  uint64_t dst_cid;
  uint32_t src_port;
  uint32_t dst_port;
  uint32_t len;
  uint16_t type;
  uint16_t op;
  uint32_t flags;
  uint32_t buf_alloc;
  uint32_t fwd_cnt;
};
#pragma pack(pop)
static_assert(sizeof(VsockHeader) == 44);

enum class VsockOp : uint16_t {
  kInvalid = 0,
  kRequest = 1,
  kResponse = 2,
  kRst = 3,
  kShutdown = 4,
  kRw = 5,
  kCreditUpdate = 6,
  kCreditRequest = 7,
};
inline constexpr uint16_t kVsockTypeStream = 1;
inline constexpr uint32_t kVsockShutdownRcv = 1;
inline constexpr uint32_t kVsockShutdownSend = 2;

struct VirtioVsockState {
  static constexpr uint32_t kVersion = 1;
  uint32_t version = kVersion;
  uint64_t guest_cid = 0;
  // Connections are not saved: like a network link, they reset.
};

class VirtioVsock : public VirtioDevice, public std::enable_shared_from_this<VirtioVsock> {
 public:
  // Creates the listening socket at uds_path (replacing a stale socket file).
  VirtioVsock(uint64_t guest_cid, std::string uds_path, EventLoop* loop);
  ~VirtioVsock() override;

  uint16_t device_type() const override { return kIdVsock; }
  std::string name() const override { return "vsock"; }
  uint64_t features() const override { return 0; }
  size_t num_queues() const override { return 3; }  // rx, tx, event
  void read_config(uint64_t offset, std::span<uint8_t> data) override;
  void activate(VirtioHost& host) override;
  void queue_notify(size_t queue) override;
  void reset() override;

  // Starts accepting host connections on uds_path (needs the object to be
  // owned by a shared_ptr; called once after construction).
  void start();
  size_t connection_count() const;

  VirtioVsockState save() const;
  void restore(const VirtioVsockState& state);

 private:
  enum class ConnState { kReadingConnect, kConnecting, kEstablished };
  struct Conn {
    UniqueFd fd;
    ConnState state = ConnState::kReadingConnect;
    uint32_t local_port = 0;  // host side
    uint32_t peer_port = 0;   // guest side
    std::string line;         // "CONNECT <port>\n" being read
    std::vector<uint8_t> to_host;  // guest data the socket did not take yet
    size_t uncounted = 0;          // leading to_host bytes that are ours ("OK <port>\n"), not guest data
    uint32_t peer_buf_alloc = 0, peer_fwd_cnt = 0;
    uint32_t tx_cnt = 0;            // bytes sent to the guest
    uint32_t fwd_cnt = 0;           // guest bytes written to the socket
    uint32_t last_fwd_reported = 0;
    uint32_t watched = 0;  // epoll events currently registered (0: none)
    bool host_eof = false;
    bool guest_rcv_shut = false;   // the guest sent SHUTDOWN with RCV: no more data to it
    bool guest_send_shut = false;  // ... with SEND: it sends no more
  };
  using Key = std::pair<uint32_t, uint32_t>;  // (local_port, peer_port)

  void on_listener();
  void on_conn_event(int fd, uint32_t events);
  void process_tx_locked();
  void handle_packet_locked(const VsockHeader& h, std::vector<uint8_t> payload);
  void fill_rx_locked();
  void queue_ctrl_locked(const Conn* c, uint32_t local_port, uint32_t peer_port, VsockOp op, uint32_t flags = 0);
  // False when the host end is gone (the caller resets the connection).
  bool flush_to_host_locked(Conn& c);
  void update_watch_locked(Key key, Conn& c);
  void close_locked(Key key, bool send_rst);
  // virtio 1.2, 5.10.6.3: peer_free = buf_alloc - (tx_cnt - fwd_cnt). A peer
  // that shrinks buf_alloc below what is in flight (or reports a fwd_cnt
  // ahead of tx_cnt) has no room, not 4 GiB of it.
  uint32_t peer_credit(const Conn& c) const {
    uint32_t in_flight = c.tx_cnt - c.peer_fwd_cnt;
    return in_flight >= c.peer_buf_alloc ? 0 : c.peer_buf_alloc - in_flight;
  }

  const uint64_t guest_cid_;
  const std::string uds_path_;
  EventLoop* loop_;
  UniqueFd listener_;
  bool listening_ = false;
  mutable std::mutex mu_;
  VirtioHost* host_ = nullptr;
  std::map<Key, Conn> conns_;
  std::map<int, Key> by_fd_;  // epoll callbacks find their connection by fd
  std::deque<VsockHeader> ctrl_;     // control packets waiting for rx buffers
  uint32_t next_port_ = 1u << 30;
};

}  // namespace insula::virtio
