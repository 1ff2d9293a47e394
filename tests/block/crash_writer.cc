// Crash-test writer: writes batches of random data into a qcow2 image, one
// 256 KiB region per batch, flushes, then prints the batch number. The crash
// test kills it with SIGKILL at random instants and checks the image.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include <functional>

#include "block/block_device.h"

namespace {

constexpr uint64_t kRegion = 256 << 10;

}  // namespace


int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: %s IMAGE SEED FIRST_BATCH\n", argv[0]);
    return 2;
  }
  auto dev = insula::block::open_image(argv[1]);
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
  }
  return 0;
}
