// Tap: a Linux tap interface opened for virtio-net (IFF_TAP | IFF_NO_PI |
// IFF_VNET_HDR, 12-byte virtio-net header), created or attached by name.
#pragma once

#include <string>

#include "base/fd.h"

namespace insula::virtio {

// TUNSETOFFLOAD flags (linux/if_tun.h), named here so callers need no kernel header.
inline constexpr unsigned kTunOffloadCsum = 0x01;
inline constexpr unsigned kTunOffloadTso4 = 0x02;
inline constexpr unsigned kTunOffloadTso6 = 0x04;
inline constexpr unsigned kTunOffloadTsoEcn = 0x08;

class Tap {
 public:
  // Opens /dev/net/tun and attaches to the tap called name, creating it
  // when absent (needs CAP_NET_ADMIN, or a tap owned by our uid). An empty
  // name lets the kernel pick one (tapN). The fd is non-blocking.
  static Tap open(const std::string& name);
  // Wraps an already-configured tap fd (e.g. passed in by a manager).
  Tap(UniqueFd fd, std::string name) : fd_(std::move(fd)), name_(std::move(name)) {}

  int fd() const { return fd_.get(); }
  const std::string& name() const { return name_; }
  // Which offloads the guest can take (TUNSETOFFLOAD); throws on failure.
  void set_offload(unsigned flags);
  // Brings the interface up (SIOCSIFFLAGS); throws on failure.
  void set_up();

 private:
  UniqueFd fd_;
  std::string name_;
};

}  // namespace insula::virtio
