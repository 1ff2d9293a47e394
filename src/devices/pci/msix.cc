// Msix: vector table, PBA, masking and delivery to an MsiSender.
#include "devices/pci/msix.h"

#include <cstring>

#include "base/error.h"

namespace insula::pci {

Msix::Msix(uint16_t vectors, MsiSender* sender)
    : vectors_(vectors), sender_(sender), table_(size_t(vectors) * kMsixEntrySize), pba_((vectors + 63) / 64) {
  if (vectors == 0 || vectors > 2048) throw error("MSI-X: {} vectors requested, must be 1..2048", vectors);
  // Every vector starts masked (vector control bit 0).
  for (uint16_t v = 0; v < vectors; v++) table_[v * kMsixEntrySize + 12] = 1;
}

uint16_t Msix::add_capability(PciFunction& function, int bar, uint32_t table_offset, uint32_t pba_offset) {
  uint8_t body[10] = {};
  uint16_t control = uint16_t(vectors_ - 1);
  body[0] = uint8_t(control);
  body[1] = uint8_t(control >> 8);
  uint32_t table = table_offset | uint32_t(bar);
  uint32_t pba = pba_offset | uint32_t(bar);
  std::memcpy(body + 2, &table, 4);
  std::memcpy(body + 6, &pba, 4);
  uint8_t wmask[10] = {0, uint8_t((kMsixEnable | kMsixFunctionMask) >> 8)};
  cap_offset_ = function.add_capability(kCapIdMsix, body, wmask);
  return cap_offset_;
}

void Msix::control_written(uint16_t control) {
  std::lock_guard lock(mu_);
  enabled_ = control & kMsixEnable;
  function_masked_ = control & kMsixFunctionMask;
  deliver_pending_locked();
}

MsixEntry Msix::entry_locked(uint16_t v) const {
  const uint8_t* e = &table_[size_t(v) * kMsixEntrySize];
  uint32_t lo, hi, data, ctrl;
  std::memcpy(&lo, e, 4);
  std::memcpy(&hi, e + 4, 4);
  std::memcpy(&data, e + 8, 4);
  std::memcpy(&ctrl, e + 12, 4);
  return MsixEntry{uint64_t(hi) << 32 | lo, data, (ctrl & 1) != 0};
}

MsixEntry Msix::entry(uint16_t vector) const {
  std::lock_guard lock(mu_);
  return vector < vectors_ ? entry_locked(vector) : MsixEntry{};
}

bool Msix::pending(uint16_t vector) const {
  std::lock_guard lock(mu_);
  return vector < vectors_ && (pba_[vector / 64] >> (vector % 64)) & 1;
}

bool Msix::enabled() const {
  std::lock_guard lock(mu_);
  return enabled_;
}

bool Msix::function_masked() const {
  std::lock_guard lock(mu_);
  return function_masked_;
}

void Msix::set_sender(MsiSender* sender) {
  std::lock_guard lock(mu_);
  sender_ = sender;
}

void Msix::table_read(uint64_t offset, std::span<uint8_t> data) {
  std::lock_guard lock(mu_);
  for (size_t i = 0; i < data.size(); i++) data[i] = offset + i < table_.size() ? table_[offset + i] : 0;
}

void Msix::set_entry_listener(EntryListener listener) {
  std::lock_guard lock(mu_);
  entry_listener_ = std::move(listener);
}

void Msix::table_write(uint64_t offset, std::span<const uint8_t> data) {
  EntryListener listener;
  std::vector<std::pair<uint16_t, MsixEntry>> changed;
  {
    std::lock_guard lock(mu_);
    for (size_t i = 0; i < data.size(); i++) {
      uint64_t o = offset + i;
      if (o >= table_.size()) break;
      // Only bit 0 of vector control is defined; the rest is reserved.
      table_[o] = (o % kMsixEntrySize) == 12 ? (data[i] & 1) : (o % kMsixEntrySize) > 12 ? 0 : data[i];
    }
    if (entry_listener_ && !data.empty() && offset < table_.size()) {
      listener = entry_listener_;
      uint64_t last = std::min<uint64_t>(offset + data.size(), table_.size()) - 1;
      for (uint64_t v = offset / kMsixEntrySize; v <= last / kMsixEntrySize; v++)
        changed.emplace_back(uint16_t(v), entry_locked(uint16_t(v)));
    }
    deliver_pending_locked();
  }
  for (const auto& [v, e] : changed) listener(v, e);
}

void Msix::pba_read(uint64_t offset, std::span<uint8_t> data) {
  std::lock_guard lock(mu_);
  for (size_t i = 0; i < data.size(); i++) {
    uint64_t o = offset + i;
    data[i] = o / 8 < pba_.size() ? uint8_t(pba_[o / 8] >> (8 * (o % 8))) : 0;
  }
}

void Msix::deliver_pending_locked() {
  if (!enabled_ || function_masked_ || !sender_) return;
  for (uint16_t v = 0; v < vectors_; v++) {
    uint64_t bit = 1ull << (v % 64);
    if (!(pba_[v / 64] & bit)) continue;
    MsixEntry e = entry_locked(v);
    if (e.masked) continue;
    pba_[v / 64] &= ~bit;
    sender_->send(e.address, e.data);
  }
}

void Msix::notify(uint16_t vector) {
  std::lock_guard lock(mu_);
  if (vector >= vectors_) return;
  MsixEntry e = entry_locked(vector);
  if (!enabled_ || function_masked_ || e.masked || !sender_) {
    pba_[vector / 64] |= 1ull << (vector % 64);
    return;
  }
  sender_->send(e.address, e.data);
}

MsixState Msix::save() const {
  std::lock_guard lock(mu_);
  return MsixState{MsixState::kVersion, table_, pba_};
}

void Msix::restore(const MsixState& state) {
  EntryListener listener;
  std::vector<MsixEntry> entries;
  {
    std::lock_guard lock(mu_);
    if (state.version != MsixState::kVersion || state.table.size() != table_.size() || state.pba.size() != pba_.size())
      throw error("MSI-X: saved state (version {}, {} table bytes) does not match this device", state.version,
                  state.table.size());
    table_ = state.table;
    pba_ = state.pba;
    listener = entry_listener_;
    for (uint16_t v = 0; v < vectors_; ++v) entries.push_back(entry_locked(v));
  }
  // Every entry is new to whoever follows the table (the machine's MSI
  // routes): announce them all, as if the guest had just written them.
  if (listener)
    for (uint16_t v = 0; v < vectors_; ++v) listener(v, entries[v]);
}

}  // namespace insula::pci
