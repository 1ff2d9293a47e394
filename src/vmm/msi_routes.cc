// MSI-X through irqfd and GSI routing.
#include "vmm/msi_routes.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include "base/error.h"
#include "base/log.h"

namespace insula::vmm {

namespace {
constexpr uint32_t kMaxGsi = 1024;  // KVM_MAX_IRQ_ROUTES is 4096; this is plenty
}

MsiRoutes::MsiRoutes(kvm::Vm& vm, std::vector<kvm_irq_routing_entry> legacy_routes)
    : vm_(vm), legacy_(std::move(legacy_routes)) {}

void MsiRoutes::watch(pci::Msix& msix) {
  const pci::Msix* key = &msix;
  msix.set_entry_listener([this, key](uint16_t vector, const pci::MsixEntry& e) { entry_changed(key, vector, e); });
}

void MsiRoutes::entry_changed(const pci::Msix* msix, uint16_t vector, const pci::MsixEntry& entry) {
  std::lock_guard lock(mu_);
  auto key = std::make_pair(msix, vector);
  auto it = routes_.find(key);
  if (it == routes_.end()) {
    if (entry.address == 0) return;  // never programmed: nothing to route
    if (next_gsi_ >= kMaxGsi) return;  // out of GSIs: KVM_SIGNAL_MSI serves it
    UniqueFd fd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!fd) return;
    Route r{next_gsi_, std::move(fd)};
    try {
      vm_.irqfd(r.fd.get(), r.gsi);
    } catch (const Error& e) {
      INSULA_LOG_DEBUG("irqfd for GSI {} refused: {}", r.gsi, e.what());
      return;
    }
    ++next_gsi_;
    it = routes_.emplace(key, std::move(r)).first;
  }
  Route& r = it->second;
  if (r.programmed && r.address == entry.address && r.data == entry.data) return;
  if (r.programmed) by_message_.erase({r.address, r.data});
  r.address = entry.address;
  r.data = entry.data;
  r.programmed = true;
  by_message_[{r.address, r.data}] = r.fd.get();
  commit_locked();
}

void MsiRoutes::commit_locked() {
  std::vector<kvm_irq_routing_entry> table = legacy_;
  for (const auto& [key, r] : routes_) {
    if (!r.programmed) continue;
    kvm_irq_routing_entry e{};
    e.gsi = r.gsi;
    e.type = KVM_IRQ_ROUTING_MSI;
    e.u.msi.address_lo = static_cast<uint32_t>(r.address);
    e.u.msi.address_hi = static_cast<uint32_t>(r.address >> 32);
    e.u.msi.data = r.data;
    table.push_back(e);
  }
  try {
    vm_.set_gsi_routing(table);
  } catch (const Error& e) {
    // Keep delivering through KVM_SIGNAL_MSI rather than through stale routes.
    INSULA_LOG_WARN("MSI routing update failed: {}", e.what());
    by_message_.clear();
  }
}

void MsiRoutes::send(uint64_t address, uint32_t data) {
  int fd = -1;
  {
    std::lock_guard lock(mu_);
    auto it = by_message_.find({address, data});
    if (it != by_message_.end()) fd = it->second;
  }
  if (fd >= 0) {
    uint64_t one = 1;
    if (::write(fd, &one, sizeof one) == sizeof one) return;
  }
  vm_.signal_msi(address, data);
}

}  // namespace insula::vmm
