// MachineConfig: everything needed to build a Machine, checked before use.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "devices/virtio/rate_limiter.h"

namespace insula::vmm {

// One virtio-blk disk (`--disk PATH[,ro][,cache=direct|writeback][,serial=ID][,format=F]`).
struct DiskConfig {
  std::string path;
  bool read_only = false;
  bool direct = false;  // cache=direct: O_DIRECT, bypasses the host page cache
  std::string serial;   // what VIRTIO_BLK_T_GET_ID answers
  std::string format;   // "" detects
  virtio::RateLimiterConfig rate_limiter{};  // Firecracker's drive rate_limiter; none by default
  // aio=io_uring (the default): a raw cache=direct disk's aligned reads and
  // writes go to io_uring; aio=threads: every request to the worker threads.
  bool io_uring = true;
};

// One virtio-net interface on a tap device (`--net TAP[,mac=xx:xx:...]`).
struct NetConfig {
  std::string tap;
  std::string mac;  // empty: a locally administered one derived from the slot
  virtio::RateLimiterConfig rx_rate_limiter{}, tx_rate_limiter{};  // guest receive / transmit
};

// virtio-vsock with a Firecracker-style unix socket on the host.
struct VsockConfig {
  uint64_t cid = 0;
  std::string uds_path;
};

// virtio-balloon (`--balloon [MIB]`, or the API's PUT /balloon).
struct BalloonConfig {
  uint32_t amount_mib = 0;                // the initial target
  bool deflate_on_oom = false;            // the guest may take pages back under memory pressure
  uint32_t stats_polling_interval_s = 0;  // 0: no statistics queue
};

struct MachineConfig {
  std::string kernel;   // path
  std::string initrd;   // path, or empty
  std::string cmdline;
  uint32_t cpus = 1;
  uint64_t memory = 256ULL << 20;
  bool debug = false;   // register dumps on fatal guest errors

  // Virtio devices on PCI bus 0, in this order: rng, console, disks, nets,
  // vsock, balloon.
  bool rng = true;
  bool virtio_console = false;  // hvc0 on stdin/stdout (instead of the UART)
  std::vector<DiskConfig> disks;
  std::vector<NetConfig> nets;
  std::optional<VsockConfig> vsock;
  std::optional<BalloonConfig> balloon;
};

// How a run ended.
struct MachineExit {
  enum class Kind {
    kPowerOff,     // ACPI S5 or KVM system-event shutdown
    kReset,        // reboot asked for (i8042, ACPI reset register, KVM reset event)
    kTripleFault,  // the CPU shut down: a reset the guest did not ask for
    kDebugExit,    // the debug-exit port was written: value holds what
    kError,        // the VMM could not go on (message says why)
    kSignal,       // the VMM was asked to stop by a signal: value holds it
  };
  Kind kind = Kind::kPowerOff;
  uint32_t value = 0;
  std::string message;
};

// The documented exit status of `insula run` for each way a run ends.
int exit_status(const MachineExit& e);

}  // namespace insula::vmm
