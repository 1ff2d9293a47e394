// VirtioBalloon: the traditional memory balloon (virtio 1.2, 5.5). The host
// sets a target; the guest gives pages back through the inflate queue (their
// host memory is released with madvise(MADV_DONTNEED)) and takes them back
// through the deflate queue. With STATS_VQ the guest reports memory
// statistics on request.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>

#include "devices/virtio/virtio_device.h"

namespace insula::virtio {

inline constexpr uint64_t kBalloonFMustTellHost = 1ull << 0;
inline constexpr uint64_t kBalloonFStatsVq = 1ull << 1;
inline constexpr uint64_t kBalloonFDeflateOnOom = 1ull << 2;
inline constexpr uint64_t kBalloonPageSize = 4096;

// Statistic tags (VIRTIO_BALLOON_S_*).
enum class BalloonStat : uint16_t {
  kSwapIn = 0,
  kSwapOut = 1,
  kMajorFaults = 2,
  kMinorFaults = 3,
  kFreeMemory = 4,
  kTotalMemory = 5,
  kAvailableMemory = 6,
  kCaches = 7,
  kHugetlbAllocations = 8,
  kHugetlbFailures = 9,
};

// Version 2 adds the stats buffer the device holds: the guest's driver
// sent it once and waits for it back, so a restored device that forgot it
// would never get statistics again.
struct VirtioBalloonState {
  static constexpr uint32_t kVersion = 2;
  static constexpr uint32_t kNoStatsHead = 0xffffffffu;
  uint32_t version = kVersion;
  uint32_t target_pages = 0;
  uint32_t actual_pages = 0;
  uint32_t stats_head = kNoStatsHead;
  uint64_t inflated_pages = 0;
};

class VirtioBalloon : public VirtioDevice {
 public:
  // stats: offer the statistics queue (the host then polls the guest).
  explicit VirtioBalloon(bool deflate_on_oom = true, bool stats = true) : deflate_on_oom_(deflate_on_oom), stats_(stats) {}

  uint16_t device_type() const override { return kIdBalloon; }
  std::string name() const override { return "balloon"; }
  uint64_t features() const override {
    return (stats_ ? kBalloonFStatsVq : 0) | (deflate_on_oom_ ? kBalloonFDeflateOnOom : 0);
  }
  size_t num_queues() const override { return 3; }  // inflateq, deflateq, statsq
  void read_config(uint64_t offset, std::span<uint8_t> data) override;
  void write_config(uint64_t offset, std::span<const uint8_t> data) override;
  void activate(VirtioHost& host) override;
  void queue_notify(size_t queue) override;
  void reset() override;

  // Host side. Target and actual are in 4 KiB pages.
  void set_target_pages(uint32_t pages);
  uint32_t target_pages() const;
  uint32_t actual_pages() const;  // as the guest last reported it
  uint64_t inflated_pages() const;  // pages released to the host so far
  // Asks the guest for fresh statistics; false when it has not offered a
  // stats buffer (no STATS_VQ, or a request is outstanding).
  bool request_stats();
  // The last statistics the guest sent (tag -> value).
  std::map<uint16_t, uint64_t> stats() const;
  bool deflate_on_oom() const { return deflate_on_oom_; }
  bool stats_enabled() const { return stats_; }

  VirtioBalloonState save() const;
  void restore(const VirtioBalloonState& state);

 private:
  void inflate_locked();
  void deflate_locked();
  void stats_locked();

  const bool deflate_on_oom_;
  const bool stats_;
  mutable std::mutex mu_;
  VirtioHost* host_ = nullptr;
  uint32_t target_pages_ = 0;
  uint32_t actual_pages_ = 0;
  uint64_t inflated_pages_ = 0;
  std::optional<uint16_t> stats_head_;
  std::map<uint16_t, uint64_t> last_stats_;
};

}  // namespace insula::virtio
