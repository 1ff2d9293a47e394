// The device options a user writes (`insula run --disk/--net/--vsock`,
// `insula vm create`) and the checks every way of configuring a device
// shares (the CLI and the VMM API both go through these), so a bad option
// is refused before a machine is built.
#pragma once

#include <string>

#include "devices/virtio/virtio_net.h"
#include "vmm/machine_config.h"

namespace insula::vmm {

// "PATH[,ro][,cache=direct|writeback][,aio=io_uring|threads][,serial=ID][,format=raw|qcow2]"
DiskConfig parse_disk(const std::string& spec);
// "TAP[,mac=52:54:00:12:34:56]"
NetConfig parse_net(const std::string& spec);
// "CID,UDS_PATH"
VsockConfig parse_vsock(const std::string& spec);

// Six hex bytes "52:54:00:12:34:56", unicast. Empty: a locally administered
// address derived from the PCI slot.
virtio::MacAddress parse_mac(const std::string& text, int slot);

// Checks that need no machine: a tap name the kernel accepts, a unicast MAC,
// a guest CID that is not reserved, a socket path that fits sockaddr_un,
// a balloon no larger than addressable by the device.
void check_net(const NetConfig& n);
void check_vsock(const VsockConfig& v);
void check_balloon(const BalloonConfig& b);

}  // namespace insula::vmm
