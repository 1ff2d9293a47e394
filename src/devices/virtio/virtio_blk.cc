// VirtioBlk: request parsing (header, data, status byte) and execution on the
// BlockDevice from worker threads or, for raw O_DIRECT disks, on io_uring.
#include "devices/virtio/virtio_blk.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <climits>
#include <cstring>
#include <vector>

#include "base/env.h"
#include "base/error.h"
#include "base/lock_within.h"
#include "base/log.h"

namespace insula::virtio {

namespace {

constexpr uint64_t kSector = 512;

// struct virtio_blk_config, up to write_zeroes_may_unmap (virtio 1.2, 5.2.4).
struct BlkConfig {
  uint64_t capacity;
  uint32_t size_max;
  uint32_t seg_max;
  uint16_t cylinders;
  uint8_t heads;
  uint8_t sectors;
  uint32_t blk_size;
  uint8_t physical_block_exp;
  uint8_t alignment_offset;
  uint16_t min_io_size;
  uint32_t opt_io_size;
  uint8_t writeback;
  uint8_t unused0;
  uint16_t num_queues;
  uint32_t max_discard_sectors;
  uint32_t max_discard_seg;
  uint32_t discard_sector_alignment;
  uint32_t max_write_zeroes_sectors;
  uint32_t max_write_zeroes_seg;
  uint8_t write_zeroes_may_unmap;
  uint8_t unused1[3];
};
static_assert(offsetof(BlkConfig, blk_size) == 20 && offsetof(BlkConfig, num_queues) == 34 &&
              offsetof(BlkConfig, max_discard_sectors) == 36 && offsetof(BlkConfig, write_zeroes_may_unmap) == 56);

struct ReqHeader {
  uint32_t type;
  uint32_t reserved;
  uint64_t sector;
};

struct Range {
  uint64_t sector;
  uint32_t num_sectors;
  uint32_t flags;
};

constexpr uint32_t kMaxRanges = 256;
// Completions a busy queue may hold back from the guest before it raises
// the interrupt anyway (see VirtioBlk::completed).
constexpr uint32_t kMaxUnsignalled = 32;
// Completed data after which the interrupt goes out before the queue is
// looked at again: large transfers are not held back for coalescing (one
// interrupt is cheap next to moving this much), so the guest refills its
// queue while the device moves the next request.
constexpr uint64_t kSignalBytes = 512 * 1024;
// Ring transfers prepared before they are submitted, within one drain. A disk
// that completes inside the submit call (a RAM disk, cached data) has then
// finished them: the drain stops there, so that they go back to the guest
// before the next ones are copied (their completion drains again).
constexpr uint64_t kSubmitBytes = 512 * 1024;
// Interrupts handed to the loop after a pop found the queue deep (two or
// more requests in flight): see VirtioBlk::finish_locked.
constexpr uint32_t kDeepSignals = 64;

// What a request costs the bandwidth bucket: its data, without the header
// and the status byte.
uint64_t request_bytes(const DescChain& c) {
  uint64_t all = c.readable_len + c.writable_len;
  return all > sizeof(ReqHeader) + 1 ? all - sizeof(ReqHeader) - 1 : 0;
}

// Host spans of a buffer list, skipping the first `skip` bytes and taking at
// most `limit` bytes. The buffers were checked by Virtqueue::pop.
std::vector<std::span<uint8_t>> spans(const GuestMemory& mem, const std::vector<Buffer>& bufs, uint64_t skip,
                                      uint64_t limit) {
  std::vector<std::span<uint8_t>> out;
  for (const Buffer& b : bufs) {
    if (limit == 0) break;
    if (skip >= b.len) {
      skip -= b.len;
      continue;
    }
    uint64_t n = std::min<uint64_t>(b.len - skip, limit);
    uint8_t* p = mem.host_ptr(b.addr + skip, n);
    if (!p) break;
    out.emplace_back(p, n);
    limit -= n;
    skip = 0;
  }
  return out;
}

}  // namespace

// A read or write on the ring; its address is the ring's tag.
struct VirtioBlk::RingRequest {
  VirtioHost* host;
  size_t q;
  std::shared_ptr<DescChain> chain;
  uint64_t status_gpa;
  uint32_t used;   // bytes written into the chain when it succeeds
  int32_t expect;  // bytes the read or write moves
  std::vector<iovec> iov;
};

namespace {

// The header and status byte of a chain; false when there is no header or
// nowhere to put the status (nothing can be reported then).
bool parse(const GuestMemory& mem, const DescChain& chain, ReqHeader& h, uint64_t& status_gpa) {
  ChainReader reader(mem, chain.readable);
  if (chain.writable_len == 0 || !reader.read_obj(h)) return false;
  const Buffer& last = chain.writable.back();
  if (last.len == 0) return false;
  status_gpa = last.addr + last.len - 1;
  return true;
}

// The data of a parsed read (in: the device-writable bytes before the status
// byte) or write (the readable bytes after the header): its length, and
// host spans of its first len bytes.
uint64_t data_len(const DescChain& chain, bool in) {
  return in ? chain.writable_len - 1 : chain.readable_len - sizeof(ReqHeader);
}
std::vector<std::span<uint8_t>> data_spans(const GuestMemory& mem, const DescChain& chain, bool in, uint64_t len) {
  return in ? spans(mem, chain.writable, 0, len) : spans(mem, chain.readable, sizeof(ReqHeader), len);
}

// Whether a read or write of len bytes at sector lies within a disk of
// disk_size bytes, in whole sectors.
bool fits(uint64_t disk_size, uint64_t sector, uint64_t len) {
  return len % kSector == 0 && sector <= disk_size / kSector && len <= disk_size - sector * kSector;
}

}  // namespace

VirtioBlk::VirtioBlk(std::shared_ptr<block::BlockDevice> disk, VirtioBlkOptions options)
    : disk_(std::move(disk)),
      options_(std::move(options)),
      read_only_(options_.read_only || disk_->read_only()),
      load_(options_.num_queues),
      pool_(options_.workers) {
  if (options_.queue_size < 4 || (options_.queue_size & (options_.queue_size - 1)))
    throw error("virtio-blk: queue size {} must be a power of two >= 4", options_.queue_size);
  if (options_.num_queues < 1 || options_.num_queues > kBlkMaxQueues)
    throw error("virtio-blk: {} queues is out of range 1..{}", options_.num_queues, kBlkMaxQueues);
  // The limiter's timer retries every queue: any of them may hold a
  // request it refused.
  if (options_.loop)
    limiter_ = std::make_unique<RateLimiter>(options_.rate_limiter, options_.loop, [this] {
      for (size_t q = 0; q < options_.num_queues; ++q) queue_notify(q);
    });
  open_ring_locked();  // nothing runs yet: no lock needed
  log_counters_ = env_flag("INSULA_BLK_STATS");
  if (options_.loop) {
    deferred_fd_.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!deferred_fd_) throw error("virtio-blk: eventfd: {}", std::strerror(errno));
    options_.loop->add(deferred_fd_.get(), [this](uint32_t) { run_deferred(); });
  }
}

VirtioBlk::~VirtioBlk() {
  wait_idle();
  if (deferred_fd_) options_.loop->remove(deferred_fd_.get());
  std::lock_guard lock(mu_);
  log_counters_locked();
}

VirtioBlkCounters VirtioBlk::counters() const {
  std::lock_guard lock(mu_);
  return counters_;
}

void VirtioBlk::log_counters() {
  std::lock_guard lock(mu_);
  log_counters_locked();
}

void VirtioBlk::log_counters_locked() {
  if (!log_counters_ || !host_) return;
  const VirtioBlkCounters& c = counters_;
  // At warning level: asked for with INSULA_BLK_STATS, so shown by default.
  INSULA_LOG_WARN(
      "virtio-blk stats: {} requests ({} on the ring), {} kicks; popped {} (mean depth {:.2f}; {} after a completion, {} by "
      "the loop); interrupts {} at a burst's end, {} after 512 KiB, {} by the loop ({} handed to it)",
      requests_.load(), ring_requests_.load(), c.kicks, c.popped, c.popped ? double(c.depth_sum) / double(c.popped) : 0.0,
      c.completion_pops, c.loop_pops, c.irq_done, c.irq_bytes, c.irq_loop, c.handed);
}

void VirtioBlk::open_ring_locked() {
  if (ring_ || !options_.io_ring || disk_->direct_access().fd < 0) return;
  // Room for every request the guest's queues can hold at once.
  // Completions are reaped on the loop that takes the kicks, when there is one.
  ring_ = IoRing::create(unsigned(options_.queue_size) * options_.num_queues,
                         [this](std::span<const IoCompletion> done) { ring_completed(done); }, options_.loop);
}

bool VirtioBlk::uses_io_ring() const {
  std::lock_guard lock(mu_);
  return ring_ && disk_->direct_access().fd >= 0;
}

void VirtioBlk::wait_idle() {
  // A ring completion may hand a request to the pool (to retry it there),
  // and a pool completion may start ring requests: wait until both are idle
  // at once. The ring is reaped here too: its loop may be parked (a
  // snapshot) or stopped (teardown) while this waits.
  for (;;) {
    for (;;) {
      IoRing* ring = nullptr;
      {
        std::lock_guard lock(mu_);
        if (ring_in_flight_ == 0) break;
        ring = ring_.get();
      }
      ring->reap(std::chrono::milliseconds(10));
    }
    pool_.wait_idle();
    std::lock_guard lock(mu_);
    if (ring_in_flight_ == 0) return;
  }
}

uint64_t VirtioBlk::features() const {
  uint64_t f = kBlkFSegMax | kBlkFBlkSize | kBlkFFlush;
  if (options_.num_queues > 1) f |= kBlkFMq;
  if (read_only_) return f | kBlkFRo;
  return f | kBlkFDiscard | kBlkFWriteZeroes;
}

void VirtioBlk::read_config(uint64_t offset, std::span<uint8_t> data) {
  BlkConfig c{};
  c.capacity = disk_->size() / kSector;
  c.seg_max = options_.queue_size - 2;  // room for header and status
  c.blk_size = kSector;
  c.num_queues = options_.num_queues;
  c.max_discard_sectors = 1u << 22;
  c.max_discard_seg = 1;
  c.discard_sector_alignment = 8;
  c.max_write_zeroes_sectors = 1u << 22;
  c.max_write_zeroes_seg = 1;
  c.write_zeroes_may_unmap = 1;
  read_config_bytes(c, offset, data);
}

void VirtioBlk::activate(VirtioHost& host) {
  std::lock_guard lock(mu_);
  host_ = &host;
}

void VirtioBlk::reset() {
  {
    std::lock_guard lock(mu_);
    log_counters_locked();
    host_ = nullptr;  // finishing workers stop looking for more work
  }
  // In-flight requests finish before the rings go away. (Not under mu_: a
  // finishing worker takes it.)
  wait_idle();
}

void VirtioBlk::quiesce() {
  wait_idle();
  // An interrupt handed to the loop is raised now: the loop may be parked
  // (a snapshot), and the guest must not wait for it after a restore.
  std::lock_guard lock(mu_);
  for (size_t q = 0; q < load_.size(); ++q)
    if (load_[q].deferred && host_) signal_locked(host_, q, &VirtioBlkCounters::irq_loop);
}

std::vector<std::string> VirtioBlk::describe_state() const {
  std::unique_lock lock = lock_within(mu_, std::chrono::seconds(1));
  if (!lock) return {"its lock has been held for 1 s (a deadlock?): nothing dumped"};
  std::vector<std::string> out;
  for (size_t q = 0; q < load_.size(); ++q) {
    const QueueLoad& l = load_[q];
    out.push_back(fmt::format("queue {}: {} in flight, {} completed unsignalled ({} bytes), deep {}{}", q, l.in_flight,
                              l.unsignalled, l.unsignalled_bytes, l.deep, l.deferred ? ", interrupt handed to the loop" : ""));
  }
  out.push_back(fmt::format("{} on the ring, hand-over {}, {}{}", ring_in_flight_,
                            deferred_pending_ ? "written to the loop" : "idle", host_ ? "active" : "reset",
                            swapping_ ? ", swapping its disk" : ""));
  return out;
}

void VirtioBlk::run_deferred() {
  uint64_t n;
  if (::read(deferred_fd_.get(), &n, sizeof n) < 0) return;
  std::lock_guard lock(mu_);
  deferred_pending_ = false;
  for (size_t q = 0; q < load_.size(); ++q) {
    QueueLoad& load = load_[q];
    if (!load.deferred) continue;
    load.deferred = false;
    if (!host_) continue;  // reset meanwhile
    drain_locked(q, &VirtioBlkCounters::loop_pops);
    // Else the completion of what the drain took raises it.
    if (load.unsignalled && load.in_flight == 0) signal_locked(host_, q, &VirtioBlkCounters::irq_loop);
  }
}

void VirtioBlk::signal_locked(VirtioHost* host, size_t q, uint64_t VirtioBlkCounters::*why) {
  counters_.*why += 1;
  QueueLoad& load = load_[q];
  load.unsignalled = 0;
  load.unsignalled_bytes = 0;
  load.deferred = false;
  if (load.deep) load.deep--;
  host->signal_used(q);
}

void VirtioBlk::queue_notify(size_t queue) {
  std::lock_guard lock(mu_);
  if (!host_ || queue >= load_.size()) return;
  counters_.kicks++;
  drain_locked(queue);
}

void VirtioBlk::drain_locked(size_t q, uint64_t VirtioBlkCounters::*by) {
  if (swapping_) return;  // replace_disk() drains again once the disk is in
  VirtioHost* host = host_;
  Virtqueue& vq = host->queue(q);
  QueueLoad& load = load_[q];
  uint64_t unsubmitted = 0;  // bytes prepared on the ring, not yet submitted
  for (;;) {
    auto chain = std::make_shared<DescChain>();
    std::string why;
    // Notifications are asked for again only when the ring is empty with
    // nothing in flight: else the completion of the last request in flight
    // looks at the ring again. (Never on a pop that finds a request: a
    // driver that keeps many outstanding, adding each as one completes,
    // would notify for every request while the device never saw its queue
    // deep: bench/devices runs 41-42, 17342 kicks for 23057 requests.)
    auto r = vq.pop_draining(host->memory(), *chain, why, load.in_flight == 0);
    if (r == Virtqueue::Pop::kError) {
      host->device_error(why);
      break;
    }
    if (r == Virtqueue::Pop::kEmpty) break;
    if (limiter_ && !limiter_->try_take(request_bytes(*chain))) {
      vq.undo_pop();  // taken again when the limiter's timer calls back
      break;
    }
    if (++load.in_flight >= 2) load.deep = kDeepSignals;
    counters_.popped++;
    counters_.depth_sum += load.in_flight;
    if (by) counters_.*by += 1;
    if (uint64_t bytes = ring_ ? try_ring_locked(host, q, chain) : 0) {
      unsubmitted += bytes;
      if (unsubmitted < kSubmitBytes) continue;
      ring_->submit();
      unsubmitted = 0;
      // Finished already (the submit did the copies): back to the guest
      // first; their completion takes the rest of the queue.
      if (ring_->ready()) return;
      continue;
    }
    pool_.submit([this, host, q, chain] {
      completed(host, q, chain->head, serve(host->memory(), *chain), request_bytes(*chain));
    });
  }
  if (unsubmitted) ring_->submit();  // the rest of the burst in one system call
}

uint64_t VirtioBlk::try_ring_locked(VirtioHost* host, size_t q, const std::shared_ptr<DescChain>& chain) {
  block::BlockDevice::DirectAccess direct = disk_->direct_access();
  if (direct.fd < 0) return 0;
  const GuestMemory& mem = host->memory();
  ReqHeader h;
  uint64_t status_gpa = 0;
  if (!parse(mem, *chain, h, status_gpa)) return 0;
  // Anything but a plain, aligned, in-range read or write goes to the
  // workers, which also report the errors.
  bool in = h.type == kBlkTIn;
  if (!in && (h.type != kBlkTOut || read_only_)) return 0;
  uint64_t len = data_len(*chain, in);
  if (len == 0 || len > INT32_MAX || !fits(disk_->size(), h.sector, len)) return 0;
  uint64_t offset = h.sector * kSector;
  if (offset % direct.align) return 0;
  auto segs = data_spans(mem, *chain, in, len);
  if (segs.size() > IOV_MAX) return 0;
  uint64_t total = 0;
  for (auto s : segs) {
    if (reinterpret_cast<uintptr_t>(s.data()) % direct.align || s.size() % direct.align) return 0;
    total += s.size();
  }
  if (total != len) return 0;
  // Taken: only now the request's own record.
  auto r = std::make_unique<RingRequest>(
      RingRequest{host, q, chain, status_gpa, in ? 1 + uint32_t(len) : 1, int32_t(len), {}});
  r->iov.reserve(segs.size());
  for (auto s : segs) r->iov.push_back(iovec{s.data(), s.size()});
  auto prepare = [&] {
    return ring_->prepare(!in, direct.fd, r->iov.data(), unsigned(r->iov.size()), offset,
                          reinterpret_cast<uintptr_t>(r.get()));
  };
  if (!prepare()) {
    ring_->submit();  // room for one more
    if (!prepare()) return 0;
  }
  ring_in_flight_++;
  r.release();  // ring_completed() takes it back
  return len;
}

void VirtioBlk::completed(VirtioHost* host, size_t q, uint16_t head, uint32_t len, uint64_t bytes) {
  host->queue(q).add_used(host->memory(), head, len);
  std::lock_guard lock(mu_);
  finish_locked(host, q, 1, bytes, true);
}

void VirtioBlk::ring_completed(std::span<const IoCompletion> done) {
  // Per queue: the chains to return, with one used-index update each.
  std::vector<std::vector<std::pair<uint16_t, uint32_t>>> used(load_.size());
  std::vector<uint64_t> bytes(load_.size());
  VirtioHost* host = nullptr;  // every request in flight has the same (reset waits for them)
  for (const IoCompletion& c : done) {
    std::unique_ptr<RingRequest> r(reinterpret_cast<RingRequest*>(uintptr_t(c.tag)));
    host = r->host;
    if (c.result != r->expect) {
      // An error, a short transfer, EAGAIN: the request again on a worker,
      // which finishes it, reporting an error if there is still one.
      pool_.submit([this, host, q = r->q, chain = r->chain] {
        completed(host, q, chain->head, serve(host->memory(), *chain), request_bytes(*chain));
      });
      continue;
    }
    requests_++;
    ring_requests_++;
    host->memory().write_obj(r->status_gpa, kBlkSOk);
    used[r->q].emplace_back(r->chain->head, r->used);
    bytes[r->q] += uint64_t(r->expect);
  }
  for (size_t q = 0; q < used.size(); ++q)
    if (!used[q].empty()) host->queue(q).add_used_many(host->memory(), used[q]);
  std::lock_guard lock(mu_);
  for (size_t q = 0; q < used.size(); ++q)
    if (!used[q].empty()) finish_locked(host, q, used[q].size(), bytes[q], false);
  ring_in_flight_ -= done.size();
}

void VirtioBlk::finish_locked(VirtioHost* host, size_t q, size_t n, uint64_t bytes, bool on_worker) {
  QueueLoad& load = load_[q];
  load.in_flight -= n;
  load.unsignalled += uint32_t(n);
  load.unsignalled_bytes += bytes;
  // Large transfers: the interrupt first, then the next requests.
  if (load.unsignalled_bytes >= kSignalBytes) signal_locked(host, q, &VirtioBlkCounters::irq_bytes);
  // Requests the driver added meanwhile (it does not notify while others are
  // in flight) are taken first (unless a reset came meanwhile): then another
  // request of this queue still in flight (waiting for a worker, being
  // served, or on the ring) raises the interrupt when it completes, covering
  // these too: one interrupt per burst, however many workers served it, and
  // however the driver spread the burst over its submissions. A guest that
  // keeps the queue busy still hears every kMaxUnsignalled.
  if (host_ == host) drain_locked(q, &VirtioBlkCounters::completion_pops);
  if (!load.unsignalled || (load.in_flight && load.unsignalled < kMaxUnsignalled)) return;
  // A worker that finished the last request of a deep queue hands the
  // interrupt to the loop: a guest that keeps many requests outstanding adds
  // them one by one after each interrupt, and a device that answers each at
  // once raises an interrupt per one or two requests (bench/devices,
  // run 38: 0.6 per request in some boots against QEMU's 0.2, whose
  // completions wait for its main loop). What the guest adds before the
  // loop gets to it is taken first; its completion interrupts for all. A
  // queue at depth 1 is answered at once.
  if (on_worker && load.in_flight == 0 && load.unsignalled < kMaxUnsignalled && load.deep && deferred_fd_ &&
      host_ == host) {
    load.deferred = true;
    counters_.handed++;
    if (!deferred_pending_) {
      uint64_t one = 1;
      deferred_pending_ = ::write(deferred_fd_.get(), &one, sizeof one) == sizeof one;
      if (!deferred_pending_) signal_locked(host, q, &VirtioBlkCounters::irq_done);
    }
    return;
  }
  signal_locked(host, q, &VirtioBlkCounters::irq_done);
}

uint32_t VirtioBlk::serve(const GuestMemory& mem, const DescChain& chain) {
  requests_++;
  ReqHeader h{};
  uint64_t status_gpa = 0;
  if (!parse(mem, chain, h, status_gpa)) {
    INSULA_LOG_WARN("virtio-blk: malformed request (head {}) dropped", chain.head);
    errors_++;
    return 0;
  }
  uint32_t used = 1;
  uint8_t status = kBlkSOk;
  try {
    switch (h.type) {
      case kBlkTIn:
      case kBlkTOut: {
        bool in = h.type == kBlkTIn;
        uint64_t len = data_len(chain, in);
        if (!fits(disk_->size(), h.sector, len)) {
          status = kBlkSIoErr;
          break;
        }
        if (!in && read_only_) {
          status = kBlkSIoErr;
          break;
        }
        uint64_t off = h.sector * kSector;
        // The whole request in one vectored call (one preadv/pwritev on raw
        // files, instead of one system call per guest segment).
        if (in) {
          disk_->readv(off, data_spans(mem, chain, in, len));
          used += uint32_t(len);
        } else {
          disk_->writev(off, data_spans(mem, chain, in, len));
        }
        break;
      }
      case kBlkTFlush:
        disk_->flush();
        break;
      case kBlkTGetId: {
        char id[kBlkIdBytes] = {};
        std::memcpy(id, options_.serial.data(), std::min<size_t>(options_.serial.size(), kBlkIdBytes));
        uint64_t n = std::min<uint64_t>(data_len(chain, true), kBlkIdBytes);
        ChainWriter w(mem, chain.writable);
        w.write(id, n);
        used += uint32_t(n);
        break;
      }
      case kBlkTDiscard:
      case kBlkTWriteZeroes:
        status = read_only_ ? kBlkSIoErr : serve_ranges(mem, chain, h.type);
        break;
      default:
        status = kBlkSUnsupp;
        break;
    }
  } catch (const std::exception& e) {
    INSULA_LOG_WARN("virtio-blk: request type {} at sector {} failed: {}", h.type, h.sector, e.what());
    status = kBlkSIoErr;
  }
  if (status != kBlkSOk) errors_++;
  mem.write_obj(status_gpa, status);
  return used;
}

uint8_t VirtioBlk::serve_ranges(const GuestMemory& mem, const DescChain& chain, uint32_t type) {
  ChainReader reader(mem, chain.readable);
  ReqHeader h;
  reader.read_obj(h);
  uint64_t n = reader.remaining() / sizeof(Range);
  if (n == 0 || n > kMaxRanges || reader.remaining() % sizeof(Range)) return kBlkSIoErr;
  uint64_t sectors = disk_->size() / kSector;
  for (uint64_t i = 0; i < n; i++) {
    Range r;
    if (!reader.read_obj(r)) return kBlkSIoErr;
    if (r.sector > sectors || r.num_sectors > sectors - r.sector) return kBlkSIoErr;
    // Discard has no flags; write-zeroes has only UNMAP (bit 0).
    if ((type == kBlkTDiscard && r.flags) || (r.flags & ~1u)) return kBlkSUnsupp;
    if (type == kBlkTDiscard)
      disk_->discard(r.sector * kSector, uint64_t(r.num_sectors) * kSector);
    else
      disk_->write_zeroes(r.sector * kSector, uint64_t(r.num_sectors) * kSector, r.flags & 1);
  }
  return kBlkSOk;
}

void VirtioBlk::replace_disk(std::shared_ptr<block::BlockDevice> disk) {
  {
    std::lock_guard lock(mu_);
    swapping_ = true;  // no request is taken meanwhile
  }
  // In-flight requests finish on the old disk. Not under mu_: a finishing
  // worker takes it (completed()).
  wait_idle();
  std::lock_guard lock(mu_);
  disk_ = std::move(disk);
  open_ring_locked();
  swapping_ = false;
  if (!host_) return;
  host_->signal_config();
  for (size_t q = 0; q < load_.size(); ++q) drain_locked(q);  // what the guest queued meanwhile
}

void VirtioBlk::set_rate_limiter(const RateLimiterConfig& c) {
  if (!limiter_) throw Error("this virtio-blk device was built without a rate limiter");
  limiter_->update(c);
}

VirtioBlkState VirtioBlk::save() const { return VirtioBlkState{VirtioBlkState::kVersion, requests_, errors_}; }

void VirtioBlk::restore(const VirtioBlkState& state) {
  if (state.version != VirtioBlkState::kVersion) throw error("virtio-blk: saved state version {} unknown", state.version);
  requests_ = state.requests;
  errors_ = state.errors;
}

}  // namespace insula::virtio
