// VirtioBlk: the virtio block device (virtio 1.2, 5.2) over a
// block::BlockDevice (raw, qcow2). Requests are parsed on the notifying
// thread and served by a WorkerPool, so a slow disk never stalls a vCPU.
//
// With num_queues > 1 (VIRTIO_BLK_F_MQ; the machine gives one per vCPU, as
// QEMU does) the guest submits on, and takes interrupts from, the queue of
// the CPU it runs on. Per queue, exits are kept few (each costs a world
// switch): while requests of a queue are in flight, the workers look for new
// ones after every completion and avail_event is left behind, so the driver
// does not notify; a completion raises the interrupt only when no other
// request of its queue is in flight (the last one of a burst does), or after
// 32 completions held back, or, before anything else, once 512 KiB of data
// completed (large transfers go back at once, so the guest refills its queue
// while the device moves the next request).
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "base/fd.h"
#include "base/io_ring.h"
#include "block/block_device.h"
#include "devices/virtio/rate_limiter.h"
#include "devices/virtio/virtio_device.h"
#include "devices/virtio/worker_pool.h"

namespace insula::virtio {

// Feature bits (virtio 1.2, 5.2.3).
inline constexpr uint64_t kBlkFSegMax = 1ull << 2;
inline constexpr uint64_t kBlkFRo = 1ull << 5;
inline constexpr uint64_t kBlkFBlkSize = 1ull << 6;
inline constexpr uint64_t kBlkFFlush = 1ull << 9;
inline constexpr uint64_t kBlkFMq = 1ull << 12;
inline constexpr uint64_t kBlkFDiscard = 1ull << 13;
inline constexpr uint64_t kBlkFWriteZeroes = 1ull << 14;

// Request types and status values (virtio 1.2, 5.2.6).
inline constexpr uint32_t kBlkTIn = 0;
inline constexpr uint32_t kBlkTOut = 1;
inline constexpr uint32_t kBlkTFlush = 4;
inline constexpr uint32_t kBlkTGetId = 8;
inline constexpr uint32_t kBlkTDiscard = 11;
inline constexpr uint32_t kBlkTWriteZeroes = 13;
inline constexpr uint8_t kBlkSOk = 0;
inline constexpr uint8_t kBlkSIoErr = 1;
inline constexpr uint8_t kBlkSUnsupp = 2;
inline constexpr uint32_t kBlkIdBytes = 20;

struct VirtioBlkOptions {
  bool read_only = false;  // also forced when the BlockDevice is read-only
  std::string serial;      // GET_ID answer (up to 20 bytes)
  unsigned workers = 2;
  uint16_t queue_size = 256;
  uint16_t num_queues = 1;  // > 1 offers VIRTIO_BLK_F_MQ; 1..kBlkMaxQueues
  // With a loop the device has a rate limiter (its timer runs there), which
  // PATCH can change later; without one it never limits.
  EventLoop* loop = nullptr;
  RateLimiterConfig rate_limiter{};
  // false: every request goes to the workers, even where io_uring could
  // take it (for comparing the two paths).
  bool io_ring = true;
};

inline constexpr uint16_t kBlkMaxQueues = 64;

// Where the work goes, for profiling (logged at reset and exit when
// INSULA_BLK_STATS=1; bench/devices runs its insula boots with it). Counted
// from the device's creation, across resets, like requests.
struct VirtioBlkCounters {
  uint64_t kicks = 0;       // queue notifications (guest exits, or the limiter's retry)
  uint64_t popped = 0;      // requests taken from the queues
  uint64_t depth_sum = 0;   // requests in flight right after each pop, summed
  uint64_t completion_pops = 0;  // of popped: taken after a completion (worker or ring)
  uint64_t loop_pops = 0;    // of popped: taken by the loop for a handed-over interrupt
  uint64_t irq_done = 0;     // interrupts when a burst ended (or kMaxUnsignalled)
  uint64_t irq_bytes = 0;    // interrupts after 512 KiB of completed data
  uint64_t irq_loop = 0;     // handed-over interrupts raised (by the loop, or by quiesce())
  uint64_t handed = 0;       // interrupts handed to the loop
};

struct VirtioBlkState {
  static constexpr uint32_t kVersion = 1;
  uint32_t version = kVersion;
  uint64_t requests = 0;
  uint64_t errors = 0;
};

class VirtioBlk : public VirtioDevice {
 public:
  VirtioBlk(std::shared_ptr<block::BlockDevice> disk, VirtioBlkOptions options);
  ~VirtioBlk() override;

  uint16_t device_type() const override { return kIdBlock; }
  std::string name() const override { return "blk"; }
  uint32_t pci_class() const override { return 0x018000; }  // mass storage, other
  uint64_t features() const override;
  size_t num_queues() const override { return options_.num_queues; }
  uint16_t queue_max_size(size_t) const override { return options_.queue_size; }
  void read_config(uint64_t offset, std::span<uint8_t> data) override;
  void activate(VirtioHost& host) override;
  void queue_notify(size_t queue) override;
  void reset() override;
  void quiesce() override;
  std::vector<std::string> describe_state() const override;

  // PATCH /drives: a new backing file (same size or not) for a running VM:
  // requests in flight finish on the old one, then the guest is told its
  // config (capacity) changed.
  void replace_disk(std::shared_ptr<block::BlockDevice> disk);
  // PATCH /drives rate_limiter; throws Error when built without a loop.
  void set_rate_limiter(const RateLimiterConfig& c);

  VirtioBlkState save() const;
  void restore(const VirtioBlkState& state);

  // Whether aligned I/O goes to io_uring (a raw O_DIRECT disk, io_uring there).
  bool uses_io_ring() const;
  // Requests served on the ring so far.
  uint64_t ring_requests() const { return ring_requests_; }
  VirtioBlkCounters counters() const;
  // Logs the counters if INSULA_BLK_STATS asked for them and the device is
  // active (a reset logs them too): for an exit that skips the destructor.
  void log_counters();

 private:
  struct RingRequest;

  // Serves one request; returns the bytes written into the chain.
  uint32_t serve(const GuestMemory& mem, const DescChain& chain);
  uint8_t serve_ranges(const GuestMemory& mem, const DescChain& chain, uint32_t type);
  // Pops every available chain of queue q and hands it to the ring or the
  // pool (mu_ held); `by`, when given, is the counter each pop adds to.
  void drain_locked(size_t q, uint64_t VirtioBlkCounters::*by = nullptr);
  // Queues the request on the ring if it can go there: the bytes it moves,
  // or 0 when it cannot (mu_ held).
  uint64_t try_ring_locked(VirtioHost* host, size_t q, const std::shared_ptr<DescChain>& chain);
  // A worker finished a request of queue q popped under host, which moved
  // `bytes` of data.
  void completed(VirtioHost* host, size_t q, uint16_t head, uint32_t len, uint64_t bytes);
  // The ring finished these requests.
  void ring_completed(std::span<const IoCompletion> done);
  // n requests of queue q, moving `bytes` of data, were returned to the
  // guest: interrupt, look for more.
  void finish_locked(VirtioHost* host, size_t q, size_t n, uint64_t bytes, bool on_worker);
  // Returns when no request is with the pool or the ring.
  void wait_idle();
  void open_ring_locked();
  void log_counters_locked();

  struct QueueLoad {
    size_t in_flight = 0;    // popped, not yet completed (mu_)
    uint32_t unsignalled = 0;  // completions not yet signalled (mu_)
    uint64_t unsignalled_bytes = 0;  // their data (mu_)
    // Interrupts still to hand to the loop (see finish_locked): set whenever
    // a pop leaves two or more requests in flight, counted down per interrupt.
    uint32_t deep = 0;
    bool deferred = false;  // an interrupt handed to the loop is due (mu_)
  };
  // The loop's side of a handed-over interrupt: takes what the guest added
  // meanwhile, then interrupts if nothing is in flight.
  void run_deferred();
  // Raises queue q's interrupt for everything completed so far (mu_ held);
  // `why` is the counter it adds to.
  void signal_locked(VirtioHost* host, size_t q, uint64_t VirtioBlkCounters::*why);

  std::shared_ptr<block::BlockDevice> disk_;
  VirtioBlkOptions options_;
  bool read_only_;
  mutable std::mutex mu_;
  VirtioHost* host_ = nullptr;
  std::atomic<uint64_t> requests_{0}, errors_{0}, ring_requests_{0};
  std::vector<QueueLoad> load_;
  bool swapping_ = false;  // replace_disk() waits for the workers: take no request
  size_t ring_in_flight_ = 0;  // mu_
  UniqueFd deferred_fd_;  // eventfd on options_.loop, when there is one
  bool deferred_pending_ = false;  // written, not yet read (mu_)
  VirtioBlkCounters counters_;     // mu_
  bool log_counters_ = false;      // INSULA_BLK_STATS
  WorkerPool pool_;
  std::unique_ptr<IoRing> ring_;           // after pool_: stopped before it
  std::unique_ptr<RateLimiter> limiter_;  // after pool_: gone before it
};

}  // namespace insula::virtio
