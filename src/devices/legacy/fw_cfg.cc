// fw_cfg I/O-port interface.
#include "devices/legacy/fw_cfg.h"

#include "base/error.h"

namespace insula {

namespace {

template <typename T>
std::vector<uint8_t> le_bytes(T v) {
  std::vector<uint8_t> b(sizeof(T));
  for (size_t i = 0; i < sizeof(T); ++i) b[i] = static_cast<uint8_t>(v >> (8 * i));
  return b;
}

}  // namespace

FwCfg::FwCfg(uint32_t cpus, uint64_t ram_size) {
  items_[kSignature] = {'Q', 'E', 'M', 'U'};
  items_[kId] = le_bytes<uint32_t>(1);  // traditional interface only
  items_[kRamSize] = le_bytes<uint64_t>(ram_size);
  items_[kNbCpus] = le_bytes<uint16_t>(static_cast<uint16_t>(cpus));
  items_[kMaxCpus] = le_bytes<uint16_t>(static_cast<uint16_t>(cpus));
  items_[kFileDir] = {0, 0, 0, 0};  // no files (count is big-endian)
}

void FwCfg::read(uint64_t offset, std::span<uint8_t> data) {
  std::lock_guard lock(mu_);
  if (offset != 1) {
    for (auto& b : data) b = 0;
    return;
  }
  auto it = items_.find(selector_);
  for (auto& b : data) {
    b = (it != items_.end() && pos_ < it->second.size()) ? it->second[pos_] : 0;
    ++pos_;
  }
}

void FwCfg::write(uint64_t offset, std::span<const uint8_t> data) {
  std::lock_guard lock(mu_);
  if (offset == 0 && !data.empty()) {
    selector_ = static_cast<uint16_t>(data[0] | (data.size() > 1 ? data[1] << 8 : 0));
    pos_ = 0;
  }
  // Data writes are refused, as on QEMU 2.4+.
}

FwCfgState FwCfg::save() {
  std::lock_guard lock(mu_);
  FwCfgState s;
  s.selector = selector_;
  s.pos = pos_;
  return s;
}

void FwCfg::restore(const FwCfgState& s) {
  if (s.version != FwCfgState::kVersion)
    throw error("fw_cfg state version {} is not supported (expected {})", s.version, FwCfgState::kVersion);
  std::lock_guard lock(mu_);
  selector_ = s.selector;
  pos_ = static_cast<size_t>(s.pos);
}

}  // namespace insula
