// PciBus: host bridge, type-1 and ECAM config access, BAR allocation.
#include "devices/pci/pci_bus.h"

#include <algorithm>
#include <cstring>

#include "base/error.h"

namespace insula::pci {

namespace {

// Red Hat's generic PCIe host bridge IDs: Linux binds no quirks to them.
constexpr PciIds kHostBridgeIds{0x1b36, 0x0008, 0, 0x060000, 0x1af4, 0x1100};

// Ports 0xCF8-0xCFB hold the address register (bit 31 enable, bus 23:16,
// device 15:11, function 10:8, register 7:2); 0xCFC-0xCFF the data window.
class ConfigIo : public BusDevice {
 public:
  explicit ConfigIo(PciBus& bus) : bus_(bus) {}
  void read(uint64_t offset, std::span<uint8_t> data) override {
    std::lock_guard lock(mu_);
    if (offset < 4) {
      for (size_t i = 0; i < data.size(); i++)
        data[i] = offset + i < 4 ? uint8_t(address_ >> (8 * (offset + i))) : 0xff;
      return;
    }
    if (!(address_ & 0x80000000u) || bus_number() != 0) {
      std::fill(data.begin(), data.end(), 0xff);
      return;
    }
    bus_.config_read(device(), function(), reg() + uint32_t(offset - 4), data);
  }
  void write(uint64_t offset, std::span<const uint8_t> data) override {
    std::lock_guard lock(mu_);
    if (offset < 4) {
      // Only a full dword write sets the address (byte writes to 0xCF9 are
      // the reset control register on PCs; ignored here).
      if (offset == 0 && data.size() == 4) {
        uint32_t v;
        std::memcpy(&v, data.data(), 4);
        address_ = v & 0x80fffffcu;
      }
      return;
    }
    if (!(address_ & 0x80000000u) || bus_number() != 0) return;
    bus_.config_write(device(), function(), reg() + uint32_t(offset - 4), data);
  }

 private:
  int bus_number() const { return (address_ >> 16) & 0xff; }
  int device() const { return (address_ >> 11) & 0x1f; }
  int function() const { return (address_ >> 8) & 0x7; }
  uint32_t reg() const { return address_ & 0xfc; }

  PciBus& bus_;
  std::mutex mu_;
  uint32_t address_ = 0;
};

// ECAM: offset = bus << 20 | device << 15 | function << 12 | register.
class Ecam : public BusDevice {
 public:
  explicit Ecam(PciBus& bus) : bus_(bus) {}
  void read(uint64_t offset, std::span<uint8_t> data) override {
    if (offset >= kEcamBusSize) {
      std::fill(data.begin(), data.end(), 0xff);
      return;
    }
    bus_.config_read(int(offset >> 15) & 0x1f, int(offset >> 12) & 7, uint32_t(offset & 0xfff), data);
  }
  void write(uint64_t offset, std::span<const uint8_t> data) override {
    if (offset >= kEcamBusSize) return;
    bus_.config_write(int(offset >> 15) & 0x1f, int(offset >> 12) & 7, uint32_t(offset & 0xfff), data);
  }

 private:
  PciBus& bus_;
};

}  // namespace

PciHostBridge::PciHostBridge() : PciFunction(kHostBridgeIds, "host-bridge") {}

PciBus::PciBus() { devices_[0] = std::make_shared<PciHostBridge>(); }

int PciBus::add(std::shared_ptr<PciFunction> function) {
  std::lock_guard lock(mu_);
  for (int d = 1; d < kMaxDevices; d++) {
    if (!devices_[d]) {
      function->set_bar_listener(listener_);
      devices_[d] = std::move(function);
      return d;
    }
  }
  throw error("PCI bus 0 is full ({} devices): cannot add {}", kMaxDevices - 1, function->name());
}

std::shared_ptr<PciFunction> PciBus::function(int device) const {
  std::lock_guard lock(mu_);
  return device >= 0 && device < kMaxDevices ? devices_[device] : nullptr;
}

void PciBus::set_bar_listener(PciBarListener* listener) {
  std::lock_guard lock(mu_);
  listener_ = listener;
  for (auto& d : devices_)
    if (d) d->set_bar_listener(listener);
}

void PciBus::config_read(int device, int function, uint32_t reg, std::span<uint8_t> data) const {
  auto f = function == 0 ? this->function(device) : nullptr;
  if (!f) {
    std::fill(data.begin(), data.end(), 0xff);
    return;
  }
  f->config_read(reg, data);
}

void PciBus::config_write(int device, int function, uint32_t reg, std::span<const uint8_t> data) {
  auto f = function == 0 ? this->function(device) : nullptr;
  if (f) f->config_write(reg, data);
}

void PciBus::allocate_bars(const MmioWindow& window32, const MmioWindow& window64) {
  struct Want {
    PciFunction* f;
    int bar;
    uint64_t size;
    bool is_64bit;
  };
  std::vector<Want> wants;
  {
    std::lock_guard lock(mu_);
    for (auto& d : devices_) {
      if (!d) continue;
      for (int b = 0; b < kNumBars; b++)
        if (d->bar_size(b)) wants.push_back({d.get(), b, d->bar_size(b), d->bar_is_64bit(b)});
    }
  }
  // Largest first keeps natural alignment without holes between BARs.
  std::stable_sort(wants.begin(), wants.end(), [](const Want& a, const Want& b) { return a.size > b.size; });
  uint64_t next32 = window32.base, next64 = window64.base;
  for (const Want& w : wants) {
    bool use64 = w.is_64bit && window64.size != 0;
    const MmioWindow& win = use64 ? window64 : window32;
    uint64_t& next = use64 ? next64 : next32;
    uint64_t addr = (next + w.size - 1) & ~(w.size - 1);
    if (addr < next || addr + w.size > win.base + win.size || addr + w.size < addr)
      throw error("PCI: no room for BAR {} of {} ({:#x} bytes) in MMIO window {:#x}+{:#x}; enlarge the window",
                  w.bar, w.f->name(), w.size, win.base, win.size);
    if (!use64 && addr + w.size > (1ull << 32))
      throw error("PCI: 32-bit window {:#x}+{:#x} reaches above 4 GiB", win.base, win.size);
    w.f->set_bar_address(w.bar, addr);
    next = addr + w.size;
  }
}

void PciBus::enable_all() {
  for (int d = 1; d < kMaxDevices; d++) {
    auto f = function(d);
    if (!f) continue;
    uint16_t cmd = f->command() | kCommandMemory | kCommandBusMaster;
    uint8_t bytes[2] = {uint8_t(cmd), uint8_t(cmd >> 8)};
    f->config_write(kCommand, bytes);
  }
}

std::shared_ptr<BusDevice> PciBus::config_io() { return std::make_shared<ConfigIo>(*this); }
std::shared_ptr<BusDevice> PciBus::ecam() { return std::make_shared<Ecam>(*this); }

}  // namespace insula::pci
