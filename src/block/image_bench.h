// run_bench(): the I/O benchmark behind `insula img bench`, with qemu-img
// bench's parameters (count, depth, size, step, offset, write, cache).
#pragma once

#include <cstdint>
#include <string>

#include "block/block_device.h"

namespace insula::block {

struct BenchRequest {
  std::string path, format;
  uint64_t count = 75000;
  unsigned depth = 64;  // requests in flight
  uint64_t size = 4096;
  uint64_t step = 0;  // 0 = size
  uint64_t offset = 0;
  bool write = false;
  uint8_t pattern = 0;
  uint64_t flush_interval = 0;  // writes between flushes (0 = none)
  CacheMode cache = CacheMode::kWriteback;
  unsigned threads = 0;  // worker threads serving the requests (0 = automatic)
  // How requests are served: kAuto picks io_uring where the image allows it
  // (a raw file opened with cache none, requests aligned for O_DIRECT, no
  // flush interval) and threads otherwise.
  enum class Engine { kAuto, kThreads, kIoUring };
  Engine engine = Engine::kAuto;
};

// Returns the elapsed seconds.
double run_bench(const BenchRequest& req);

}  // namespace insula::block
