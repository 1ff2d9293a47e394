// Tap: /dev/net/tun setup through TUNSETIFF, TUNSETVNETHDRSZ, TUNSETOFFLOAD.
#include "devices/virtio/tap.h"

#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <cstring>

#include "base/error.h"

namespace insula::virtio {

Tap Tap::open(const std::string& name) {
  if (name.size() >= IFNAMSIZ) throw error("tap name '{}' is longer than {} characters", name, IFNAMSIZ - 1);
  UniqueFd fd(::open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC));
  if (!fd) throw errno_error("opening /dev/net/tun (is the tun module loaded?)");
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, name.c_str(), IFNAMSIZ - 1);
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
  if (::ioctl(fd.get(), TUNSETIFF, &ifr) < 0)
    throw errno_error(fmt::format("attaching to tap '{}' (needs CAP_NET_ADMIN to create it; an existing "
                                  "tap must be a single-queue tap with vnet headers)",
                                  name));
  // Version 1 virtio-net headers are 12 bytes (num_buffers always present).
  int hdr = 12;
  if (::ioctl(fd.get(), TUNSETVNETHDRSZ, &hdr) < 0) throw errno_error(fmt::format("setting vnet header size on tap '{}'", name));
  return Tap(std::move(fd), ifr.ifr_name);
}

void Tap::set_offload(unsigned flags) {
  if (::ioctl(fd_.get(), TUNSETOFFLOAD, flags) < 0)
    throw errno_error(fmt::format("setting offloads {:#x} on tap '{}'", flags, name_));
}

void Tap::set_up() {
  UniqueFd s(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!s) throw errno_error("creating a socket to configure tap");
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, name_.c_str(), IFNAMSIZ - 1);
  if (::ioctl(s.get(), SIOCGIFFLAGS, &ifr) < 0) throw errno_error(fmt::format("reading flags of '{}'", name_));
  ifr.ifr_flags |= IFF_UP;
  if (::ioctl(s.get(), SIOCSIFFLAGS, &ifr) < 0) throw errno_error(fmt::format("bringing '{}' up", name_));
}

}  // namespace insula::virtio
