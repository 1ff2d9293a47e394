// Crash-test writer: writes batches of random data into a qcow2 image, one
// 256 KiB region per batch, flushes, then prints the batch number. The crash
// test kills it with SIGKILL at random instants and checks the image.
//
// With a fourth argument "snapshots", each flushed batch k is followed by
// internal snapshot operations, bracketed by the lines "s" and "e" so the
// test knows when a kill landed inside them: create "b<k>"; every third batch
// apply it again (the disk does not change, but the active L1 table is
// switched and the old one's references dropped). Before that, the oldest
// snapshots are deleted down to two, every fourth batch the second first.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "block/block_device.h"
#include "block/qcow2.h"

namespace {

constexpr uint64_t kRegion = 256 << 10;

void snapshot_ops(insula::block::Qcow2Image& q, uint64_t k) {
  std::printf("s\n");
  std::fflush(stdout);
  // Deletes come first, so however often a kill interrupts the sequence at
  // most three snapshots exist (each adds a reference: 4-bit refcounts).
  auto list = q.snapshots();
  if (k % 4 == 1 && list.size() >= 2) q.delete_snapshot(list[1].id);
  for (list = q.snapshots(); list.size() > 2; list = q.snapshots()) q.delete_snapshot(list.front().id);
  std::string name = "b" + std::to_string(k);
  q.create_snapshot(name);
  if (k % 3 == 0) q.apply_snapshot(name);
  std::printf("e\n");
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4 && !(argc == 5 && std::strcmp(argv[4], "snapshots") == 0)) {
    std::fprintf(stderr, "usage: %s IMAGE SEED FIRST_BATCH [snapshots]\n", argv[0]);
    return 2;
  }
  auto dev = insula::block::open_image(argv[1]);
  auto* q = argc == 5 ? dynamic_cast<insula::block::Qcow2Image*>(dev.get()) : nullptr;
  if (argc == 5 && !q) {
    std::fprintf(stderr, "%s: snapshots need a qcow2 image\n", argv[1]);
    return 2;
  }
  uint64_t seed = std::strtoull(argv[2], nullptr, 10);
  uint64_t regions = dev->size() / kRegion;
  for (uint64_t k = std::strtoull(argv[3], nullptr, 10); k < regions; ++k) {
    std::mt19937_64 rng(seed * 1000003 + k);
    for (int i = 0; i < 24; ++i) {
      uint64_t len = 1 + rng() % 40000;
      uint64_t off = k * kRegion + rng() % (kRegion - len);
      uint64_t fill = rng();
      if (fill % 5 == 0) {
        dev->write_zeroes(off, len, true);
      } else {
        std::vector<uint8_t> d(len);
        for (size_t j = 0; j < len; ++j) d[j] = static_cast<uint8_t>(fill + j * 7);
        dev->write(off, d);
      }
    }
    dev->flush();
    std::printf("%llu\n", static_cast<unsigned long long>(k));
    std::fflush(stdout);
    if (q) snapshot_ops(*q, k);
  }
  return 0;
}
