// PciDevices' part of a snapshot: each function's state as sections named
// by slot and device ("pci/01/virtio-rng", "pci/01/virtio-rng/device"), so
// a reader finds the same device in the same slot of a machine rebuilt
// from the same config.
#include <fmt/format.h>

#include "base/error.h"
#include "base/state_file.h"
#include "devices/virtio/virtio_balloon.h"
#include "devices/virtio/virtio_blk.h"
#include "devices/virtio/virtio_console.h"
#include "devices/virtio/virtio_net.h"
#include "devices/virtio/virtio_rng.h"
#include "devices/virtio/virtio_vsock.h"
#include "vmm/pci_devices.h"

namespace insula::vmm {

namespace {

constexpr const char* kHostBridge = "pci/00/host-bridge";
constexpr uint32_t kHostBridgeVersion = 1;

std::string transport_id(size_t index, const virtio::VirtioPci& dev) {
  return fmt::format("pci/{:02x}/virtio-{}", index + 1, const_cast<virtio::VirtioPci&>(dev).device().name());
}

std::vector<uint8_t> encode(const virtio::VirtioPciState& s) {
  StateEncoder e;
  e.put_vector(s.config_space);
  e.put(s.msix.version);
  e.put_vector(s.msix.table);
  e.put_vector(s.msix.pba);
  e.put(s.status);
  e.put(s.isr);
  e.put(s.config_generation);
  e.put(s.device_feature_select);
  e.put(s.driver_feature_select);
  e.put(s.driver_features);
  e.put(s.config_msix_vector);
  e.put(s.queue_select);
  e.put_vector(s.queues);
  return e.bytes();
}

virtio::VirtioPciState decode(const StateSection& sec, const std::string& what) {
  StateDecoder d(sec.data, what);
  virtio::VirtioPciState s;
  s.version = sec.version;
  s.config_space = d.get_vector<uint8_t>();
  s.msix.version = d.get<uint32_t>();
  s.msix.table = d.get_vector<uint8_t>();
  s.msix.pba = d.get_vector<uint64_t>();
  s.status = d.get<uint8_t>();
  s.isr = d.get<uint8_t>();
  s.config_generation = d.get<uint8_t>();
  s.device_feature_select = d.get<uint32_t>();
  s.driver_feature_select = d.get<uint32_t>();
  s.driver_features = d.get<uint64_t>();
  s.config_msix_vector = d.get<uint16_t>();
  s.queue_select = d.get<uint16_t>();
  s.queues = d.get_vector<virtio::QueueState>();
  d.finish();
  return s;
}

// The device's own state, one plain struct per device type.
template <typename Device>
bool save_plain(StateWriter& w, const std::string& id, virtio::VirtioDevice& dev) {
  auto* d = dynamic_cast<Device*>(&dev);
  if (!d) return false;
  w.add_struct(id, d->save());
  return true;
}

template <typename Device, typename State>
bool restore_plain(const StateReader& r, const std::string& id, virtio::VirtioDevice& dev) {
  auto* d = dynamic_cast<Device*>(&dev);
  if (!d) return false;
  d->restore(r.get_struct<State>(id));
  return true;
}

void save_device(StateWriter& w, const std::string& id, virtio::VirtioDevice& dev) {
  if (auto* c = dynamic_cast<virtio::VirtioConsole*>(&dev)) {
    StateEncoder e;
    e.put_vector(c->save().pending_input);
    w.add(id, virtio::VirtioConsoleState::kVersion, e.bytes());
    return;
  }
  if (save_plain<virtio::VirtioRng>(w, id, dev) || save_plain<virtio::VirtioBlk>(w, id, dev) ||
      save_plain<virtio::VirtioNet>(w, id, dev) || save_plain<virtio::VirtioVsock>(w, id, dev) ||
      save_plain<virtio::VirtioBalloon>(w, id, dev))
    return;
  throw error("cannot snapshot: virtio-{} has no saved-state format", dev.name());
}

void restore_device(const StateReader& r, const std::string& id, virtio::VirtioDevice& dev) {
  if (auto* c = dynamic_cast<virtio::VirtioConsole*>(&dev)) {
    StateDecoder d(r.get(id, virtio::VirtioConsoleState::kVersion).data, r.what() + ": " + id);
    virtio::VirtioConsoleState s;
    s.pending_input = d.get_vector<uint8_t>();
    d.finish();
    c->restore(s);
    return;
  }
  if (restore_plain<virtio::VirtioRng, virtio::VirtioRngState>(r, id, dev) ||
      restore_plain<virtio::VirtioBlk, virtio::VirtioBlkState>(r, id, dev) ||
      restore_plain<virtio::VirtioNet, virtio::VirtioNetState>(r, id, dev) ||
      restore_plain<virtio::VirtioVsock, virtio::VirtioVsockState>(r, id, dev) ||
      restore_plain<virtio::VirtioBalloon, virtio::VirtioBalloonState>(r, id, dev))
    return;
  throw error("{}: virtio-{} has no saved-state format this insula can restore", r.what(), dev.name());
}

}  // namespace

std::vector<std::string> PciDevices::section_ids() const {
  std::vector<std::string> ids = {kHostBridge};
  for (size_t i = 0; i < devices_.size(); ++i) {
    ids.push_back(transport_id(i, *devices_[i]));
    ids.push_back(transport_id(i, *devices_[i]) + "/device");
  }
  return ids;
}

void PciDevices::save(StateWriter& w) const {
  w.add(kHostBridge, kHostBridgeVersion, bus_.function(0)->save_config());
  for (size_t i = 0; i < devices_.size(); ++i) {
    std::string id = transport_id(i, *devices_[i]);
    w.add(id, virtio::VirtioPciState::kVersion, encode(devices_[i]->save()));
    save_device(w, id + "/device", devices_[i]->device());
  }
}

void PciDevices::restore(const StateReader& r) {
  bus_.function(0)->restore_config(r.get(kHostBridge, kHostBridgeVersion).data);
  for (size_t i = 0; i < devices_.size(); ++i) {
    auto& dev = *devices_[i];
    std::string id = transport_id(i, dev);
    auto transport = decode(r.get(id, virtio::VirtioPciState::kVersion), r.what() + ": " + id);
    restore_device(r, id + "/device", dev.device());
    // Re-activates the device when the guest's driver had it running.
    dev.restore(transport);
    // The config space came back with BARs enabled: decode them on the bus
    // (and their queue-notify ioeventfds), as the guest's writes once did.
    for (int bar = 0; bar < pci::kNumBars; ++bar)
      if (auto m = dev.bar_mapping(bar)) bar_changed(dev, bar, std::nullopt, m);
  }
}

}  // namespace insula::vmm
