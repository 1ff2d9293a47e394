// Device option parsing and checks shared by `insula run`, `insula vm` and
// the VMM API.
#include "vmm/device_options.h"

#include <net/if.h>
#include <sys/un.h>

#include <cstdio>

#include "base/error.h"

namespace insula::vmm {

namespace {
std::vector<std::string> split_commas(const std::string& spec) {
  std::vector<std::string> parts;
  size_t start = 0;
  for (size_t i = 0; i <= spec.size(); ++i)
    if (i == spec.size() || spec[i] == ',') {
      parts.push_back(spec.substr(start, i - start));
      start = i + 1;
    }
  return parts;
}
}  // namespace

DiskConfig parse_disk(const std::string& spec) {
  DiskConfig d;
  auto parts = split_commas(spec);
  d.path = parts[0];
  if (d.path.empty()) throw error("--disk '{}': no path", spec);
  for (size_t i = 1; i < parts.size(); ++i) {
    const auto& p = parts[i];
    if (p == "ro" || p == "readonly") d.read_only = true;
    else if (p == "cache=direct" || p == "cache=none") d.direct = true;
    else if (p == "cache=writeback") d.direct = false;
    else if (p == "aio=io_uring" || p == "aio=native") d.io_uring = true;
    else if (p == "aio=threads") d.io_uring = false;
    else if (p.rfind("serial=", 0) == 0) d.serial = p.substr(7);
    else if (p.rfind("format=", 0) == 0) d.format = p.substr(7);
    else throw error("--disk '{}': unknown option '{}' (ro, cache=direct|writeback, aio=io_uring|threads, serial=ID, format=F)", spec, p);
  }
  return d;
}

NetConfig parse_net(const std::string& spec) {
  NetConfig n;
  auto comma = spec.find(',');
  n.tap = spec.substr(0, comma);
  if (comma != std::string::npos) {
    std::string opt = spec.substr(comma + 1);
    if (opt.rfind("mac=", 0) != 0) throw error("--net '{}': unknown option '{}' (mac=XX:XX:XX:XX:XX:XX)", spec, opt);
    n.mac = opt.substr(4);
  }
  if (n.tap.empty()) throw error("--net '{}': no tap device name", spec);
  check_net(n);
  return n;
}

VsockConfig parse_vsock(const std::string& spec) {
  auto comma = spec.find(',');
  if (comma == std::string::npos || comma + 1 == spec.size())
    throw error("--vsock '{}': expected CID,UDS_PATH", spec);
  VsockConfig v;
  std::string cid = spec.substr(0, comma);
  size_t used = 0;
  try {
    v.cid = std::stoull(cid, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != cid.size()) throw error("--vsock '{}': the CID must be a number", spec);
  v.uds_path = spec.substr(comma + 1);
  check_vsock(v);
  return v;
}

virtio::MacAddress parse_mac(const std::string& text, int slot) {
  virtio::MacAddress mac{0x52, 0x54, 0x00, 0x12, 0x34, static_cast<uint8_t>(slot)};  // locally administered
  if (text.empty()) return mac;
  unsigned b[6];
  char extra;
  if (std::sscanf(text.c_str(), "%x:%x:%x:%x:%x:%x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5], &extra) != 6)
    throw error("invalid MAC address '{}': expected six hex bytes like 52:54:00:12:34:56", text);
  for (int i = 0; i < 6; ++i) {
    if (b[i] > 0xff) throw error("invalid MAC address '{}'", text);
    mac[i] = static_cast<uint8_t>(b[i]);
  }
  if (mac[0] & 1) throw error("MAC address '{}' is a multicast address", text);
  return mac;
}

void check_net(const NetConfig& n) {
  if (n.tap.empty() || n.tap.size() >= IFNAMSIZ || n.tap.find_first_of("/ \t\n") != std::string::npos)
    throw error("tap name '{}' is not a valid interface name (1-{} characters, no '/' or spaces)", n.tap,
                IFNAMSIZ - 1);
  parse_mac(n.mac, 0);
}

void check_vsock(const VsockConfig& v) {
  if (v.cid < 3 || v.cid >= 0xffffffffu) throw error("vsock guest CID {} is reserved or too large: use 3 to 4294967294", v.cid);
  if (v.uds_path.empty() || v.uds_path.size() >= sizeof(sockaddr_un::sun_path))
    throw error("vsock socket path '{}' must be 1 to {} bytes long", v.uds_path, sizeof(sockaddr_un::sun_path) - 1);
}

void check_balloon(const BalloonConfig& b) {
  // num_pages is 32 bits of 4 KiB pages.
  constexpr uint64_t kMaxMib = (uint64_t(UINT32_MAX) * 4096) >> 20;
  if (b.amount_mib > kMaxMib) throw error("balloon size {} MiB is larger than the device can hold ({} MiB)", b.amount_mib, kMaxMib);
}

}  // namespace insula::vmm
