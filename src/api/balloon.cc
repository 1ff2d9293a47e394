// The balloon, as Firecracker: PUT /balloon (before InstanceStart), GET and
// PATCH /balloon (the target, at any time), GET /balloon/statistics and
// PATCH /balloon/statistics (the polling interval). Statistics are polled:
// every interval the device hands the guest its stats buffer back, the
// guest refills it, and GET shows the latest values.
#include <boost/asio/steady_timer.hpp>

#include "api/api_error.h"
#include "api/device_bodies.h"
#include "api/endpoints.h"
#include "api/json_body.h"
#include "devices/virtio/virtio_balloon.h"

namespace insula::api {

namespace {

constexpr uint32_t kPagesPerMib = (1 << 20) / virtio::kBalloonPageSize;

// Asks the guest for statistics every interval while the machine runs.
class StatsPoller : public std::enable_shared_from_this<StatsPoller> {
 public:
  StatsPoller(boost::asio::io_context& io, VmmService& vm) : timer_(io), vm_(vm) {}
  void set_interval(uint32_t seconds) {
    interval_ = seconds;
    timer_.cancel();
    arm();
  }

 private:
  void arm() {
    if (interval_ == 0) return;
    timer_.expires_after(std::chrono::seconds(interval_));
    timer_.async_wait([weak = weak_from_this()](const boost::system::error_code& ec) {
      auto self = weak.lock();
      if (ec || !self) return;
      if (vmm::Machine* m = self->vm_.running_machine())
        if (auto* b = m->balloon()) b->request_stats();
      self->arm();
    });
  }

  boost::asio::steady_timer timer_;
  VmmService& vm_;
  uint32_t interval_ = 0;
};

vmm::BalloonConfig& configured(VmmService& vm) {
  if (!vm.config().balloon) throw bad_request("no balloon device is configured (PUT /balloon before InstanceStart)");
  return *vm.config().balloon;
}

// The device once the VM started, null before; 409 once the VM has ended.
virtio::VirtioBalloon* device(VmmService& vm) {
  if (vm.state() == VmState::kNotStarted) return nullptr;
  vmm::Machine* m = vm.running_machine();
  if (!m || !m->balloon()) throw conflict("the VM has ended");
  return m->balloon();
}

void check_amount(VmmService& vm, uint64_t mib) {
  uint64_t mem_mib = vm.config().memory >> 20;
  if (mib > mem_mib) throw bad_request("amount_mib {} is more than the guest's memory ({} MiB)", mib, mem_mib);
}

const char* const kStatNames[] = {"swap_in",      "swap_out",        "major_faults",     "minor_faults",
                                  "free_memory",  "total_memory",    "available_memory", "disk_caches",
                                  "hugetlb_allocations", "hugetlb_failures"};

}  // namespace

void add_balloon_routes(Router& r, VmmService& vm, boost::asio::io_context& io) {
  auto poller = std::make_shared<StatsPoller>(io, vm);

  r.add("PUT", "/balloon", [&vm, poller](const Request& req) {
    vm.require_not_started("the balloon device");
    vmm::BalloonConfig b = parse_balloon_body(req.body);
    check_amount(vm, b.amount_mib);
    vm.config().balloon = b;
    poller->set_interval(b.stats_polling_interval_s);
    return Response{204, std::nullopt, {}, {}};
  });

  r.add("GET", "/balloon", [&vm](const Request&) {
    vmm::BalloonConfig b = configured(vm);
    if (auto* dev = device(vm)) b.amount_mib = dev->target_pages() / kPagesPerMib;
    return Response{200, balloon_body(b), {}, {}};
  });

  r.add("PATCH", "/balloon", [&vm](const Request& req) {
    auto o = parse_object(req.body, {"amount_mib"});
    auto mib = uint_field(o, "amount_mib", 0, UINT32_MAX);
    if (!mib) throw bad_request("\"amount_mib\" is required");
    vmm::BalloonConfig& b = configured(vm);
    check_amount(vm, *mib);
    if (auto* dev = device(vm)) dev->set_target_pages(static_cast<uint32_t>(*mib) * kPagesPerMib);
    b.amount_mib = static_cast<uint32_t>(*mib);
    return Response{204, std::nullopt, {}, {}};
  });

  r.add("GET", "/balloon/statistics", [&vm](const Request&) {
    const vmm::BalloonConfig& b = configured(vm);
    if (b.stats_polling_interval_s == 0)
      throw bad_request("balloon statistics are not enabled: set stats_polling_interval_s in PUT /balloon");
    auto* dev = device(vm);
    if (!dev) throw conflict("the VM is not started: no statistics yet");
    uint32_t target = dev->target_pages(), actual = dev->actual_pages();
    nlohmann::json j{{"target_pages", target},
                     {"actual_pages", actual},
                     {"target_mib", target / kPagesPerMib},
                     {"actual_mib", actual / kPagesPerMib}};
    for (const auto& [tag, value] : dev->stats())
      if (tag < std::size(kStatNames)) j[kStatNames[tag]] = value;
    return Response{200, j, {}, {}};
  });

  r.add("PATCH", "/balloon/statistics", [&vm, poller](const Request& req) {
    auto o = parse_object(req.body, {"stats_polling_interval_s"});
    auto secs = uint_field(o, "stats_polling_interval_s", 0, 86400);
    if (!secs) throw bad_request("\"stats_polling_interval_s\" is required");
    vmm::BalloonConfig& b = configured(vm);
    // The statistics queue is offered (or not) when the guest boots: after
    // that the interval can change but not turn statistics on or off.
    if (vm.state() != VmState::kNotStarted && (b.stats_polling_interval_s == 0) != (*secs == 0))
      throw bad_request("statistics cannot be turned {} once the VM has started", *secs ? "on" : "off");
    device(vm);  // 409 once the VM has ended
    b.stats_polling_interval_s = static_cast<uint32_t>(*secs);
    poller->set_interval(b.stats_polling_interval_s);
    return Response{204, std::nullopt, {}, {}};
  });
}

}  // namespace insula::api
