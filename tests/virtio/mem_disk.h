// MemDisk: a BlockDevice over a byte vector, recording flushes and discards;
// close_gate() holds reads until open_gate() (requests kept in flight).
#pragma once

#include <condition_variable>
#include <cstring>
#include <mutex>
#include <vector>

#include "base/error.h"
#include "block/block_device.h"

namespace insula::testing {

class MemDisk : public block::BlockDevice {
 public:
  explicit MemDisk(uint64_t size, bool ro = false) : data(size), ro_(ro) {}
  uint64_t size() const override { return data.size(); }
  bool read_only() const override { return ro_; }
  std::string format() const override { return "raw"; }
  void read(uint64_t offset, std::span<uint8_t> buf) override {
    {
      std::unique_lock gate(gate_mu_);
      gate_cv_.wait(gate, [&] { return !gate_closed_; });
    }
    std::lock_guard lock(mu);
    check(offset, buf.size());
    std::memcpy(buf.data(), &data[offset], buf.size());
  }
  void write(uint64_t offset, std::span<const uint8_t> buf) override {
    std::lock_guard lock(mu);
    check(offset, buf.size());
    std::memcpy(&data[offset], buf.data(), buf.size());
  }
  void flush() override {
    std::lock_guard lock(mu);
    flushes++;
  }
  void discard(uint64_t offset, uint64_t length) override {
    std::lock_guard lock(mu);
    check(offset, length);
    discards++;
    std::memset(&data[offset], 0, length);
  }
  void write_zeroes(uint64_t offset, uint64_t length, bool) override {
    std::lock_guard lock(mu);
    check(offset, length);
    std::memset(&data[offset], 0, length);
  }
  block::Extent block_status(uint64_t offset, uint64_t max_length) override {
    return block::Extent{offset, max_length, block::Extent::Kind::kData, -1, 0};
  }
  void check(uint64_t offset, uint64_t len) const {
    if (offset > data.size() || len > data.size() - offset) throw error("MemDisk: access out of range");
  }

  void close_gate() {
    std::lock_guard gate(gate_mu_);
    gate_closed_ = true;
  }
  void open_gate() {
    {
      std::lock_guard gate(gate_mu_);
      gate_closed_ = false;
    }
    gate_cv_.notify_all();
  }

  std::mutex mu;
  std::vector<uint8_t> data;
  int flushes = 0;
  int discards = 0;

 private:
  bool ro_;
  std::mutex gate_mu_;
  std::condition_variable gate_cv_;
  bool gate_closed_ = false;
};

}  // namespace insula::testing
