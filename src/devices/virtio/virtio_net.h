// VirtioNet: the virtio network device (virtio 1.2, 5.1) on a tap interface.
//
// One receive and one transmit queue. The 12-byte virtio-net header passes
// through to the tap unchanged (the tap is set to the same header size), so
// checksum and TSO offloads cost nothing here: the offloads the guest
// accepts on receive are handed to the tap with TUNSETOFFLOAD at activation.
// The tap fd is watched on an EventLoop only while the guest has posted
// receive buffers; a frame that does not fit waits until it has.
//
// Receive reads straight into the guest's buffers (one readv per frame) when
// they hold room for the largest frame the tap can hand over; otherwise the
// frame is read into a bounce buffer and copied out as buffers arrive.
// Transmit is one writev per frame from guest memory. Every batch (all that
// the tap or the queue had) ends with at most one interrupt.
#pragma once

#include <sys/uio.h>

#include <array>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "base/event_loop.h"
#include "devices/virtio/rate_limiter.h"
#include "devices/virtio/tap.h"
#include "devices/virtio/virtio_device.h"

namespace insula::virtio {

// Feature bits (virtio 1.2, 5.1.3).
inline constexpr uint64_t kNetFCsum = 1ull << 0;
inline constexpr uint64_t kNetFGuestCsum = 1ull << 1;
inline constexpr uint64_t kNetFMac = 1ull << 5;
inline constexpr uint64_t kNetFGuestTso4 = 1ull << 7;
inline constexpr uint64_t kNetFGuestTso6 = 1ull << 8;
inline constexpr uint64_t kNetFGuestEcn = 1ull << 9;
inline constexpr uint64_t kNetFHostTso4 = 1ull << 11;
inline constexpr uint64_t kNetFHostTso6 = 1ull << 12;
inline constexpr uint64_t kNetFHostEcn = 1ull << 13;
inline constexpr uint64_t kNetFMrgRxbuf = 1ull << 15;
inline constexpr uint64_t kNetFStatus = 1ull << 16;
inline constexpr uint16_t kNetSLinkUp = 1;
inline constexpr size_t kNetHdrSize = 12;

using MacAddress = std::array<uint8_t, 6>;

struct VirtioNetState {
  static constexpr uint32_t kVersion = 1;
  uint32_t version = kVersion;
  MacAddress mac{};
  bool link_up = true;
  uint64_t rx_frames = 0, tx_frames = 0, rx_dropped = 0, tx_dropped = 0;
};

// Where the work goes, for profiling (logged at reset when INSULA_NET_STATS=1;
// not part of the saved state).
struct VirtioNetCounters {
  uint64_t rx_wakeups = 0;  // tap readable callbacks
  uint64_t rx_kicks = 0, tx_kicks = 0;
  uint64_t rx_direct = 0;   // frames read straight into guest buffers
  uint64_t rx_bounced = 0;  // frames read into the bounce buffer
  uint64_t rx_stalls = 0;   // times the guest had no room for a pending frame
  uint64_t rx_batches = 0, tx_batches = 0;  // batches that used buffers (<= interrupts)
};

class VirtioNet : public VirtioDevice, public std::enable_shared_from_this<VirtioNet> {
 public:
  // With a loop, receive (rx) and transmit (tx) have rate limiters that
  // PATCH can change later.
  VirtioNet(Tap tap, MacAddress mac, EventLoop* loop, const RateLimiterConfig& rx = {},
            const RateLimiterConfig& tx = {});
  ~VirtioNet() override;

  uint16_t device_type() const override { return kIdNet; }
  std::string name() const override { return "net"; }
  uint32_t pci_class() const override { return 0x020000; }  // Ethernet controller
  uint64_t features() const override;
  size_t num_queues() const override { return 2; }  // receiveq1, transmitq1
  void read_config(uint64_t offset, std::span<uint8_t> data) override;
  void activate(VirtioHost& host) override;
  void queue_notify(size_t queue) override;
  void reset() override;

  const Tap& tap() const { return tap_; }
  // Link status as the guest sees it (config status, config interrupt).
  void set_link(bool up);
  // PATCH /network-interfaces; throws Error when built without a loop.
  void set_rate_limiters(const std::optional<RateLimiterConfig>& rx, const std::optional<RateLimiterConfig>& tx);

  VirtioNetCounters counters() const;
  // Logs the counters if INSULA_NET_STATS asked for them and the device is
  // active (a reset logs them too): for an exit that skips the destructor.
  void log_counters();
  VirtioNetState save() const;
  void restore(const VirtioNetState& state);

 private:
  void on_tap_readable();
  // Moves frames from the tap into receive buffers until one side runs dry.
  void receive_locked();
  // Reads one frame from the tap straight into receive buffers when they
  // have room for any frame.
  enum class Direct { kDone, kDrained, kNoRoom, kBroken };
  Direct receive_direct_locked(bool& used);
  // Puts the pending frame into receive buffers; false when they run out.
  bool deliver_frame_locked(bool& used);
  void transmit_locked();
  void watch_locked(bool on);
  void log_counters_locked();

  Tap tap_;
  EventLoop* loop_;
  mutable std::mutex mu_;
  VirtioHost* host_ = nullptr;
  MacAddress mac_;
  bool link_up_ = true;
  bool mergeable_ = false;
  bool guest_csum_ = false;  // GUEST_CSUM negotiated: rx header flags may be set
  bool watching_ = false;
  std::vector<uint8_t> frame_;  // one frame read from the tap, header first
  size_t frame_len_ = 0;        // 0: none pending
  // Reused per frame so that the data path does not allocate.
  std::vector<DescChain> rx_chains_;
  std::vector<std::pair<uint16_t, uint32_t>> rx_elems_;
  std::vector<iovec> iov_;
  uint64_t rx_frames_ = 0, tx_frames_ = 0, rx_dropped_ = 0, tx_dropped_ = 0;
  bool frame_charged_ = false;  // the pending frame got past the rx limiter
  std::unique_ptr<RateLimiter> rx_limiter_, tx_limiter_;
  VirtioNetCounters counters_;
  bool log_counters_ = false;
};

}  // namespace insula::virtio
