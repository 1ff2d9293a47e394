// Fuzz target: treats the input as an image file, opens it (format
// detected), walks its allocation map, reads bounded parts of it, runs the
// qcow2 consistency check, lists, applies and deletes a snapshot, and
// writes three blocks. Any crash, hang or runaway allocation is a bug;
// Errors are the expected outcome for garbage.
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <string>
#include <vector>

#include "base/error.h"
#include "block/block_device.h"
#include "block/qcow2.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  int fd = ::memfd_create("fuzz-image", 0);
  if (fd < 0) return 0;
  if (::write(fd, data, size) != static_cast<ssize_t>(size)) {
    ::close(fd);
    return 0;
  }
  std::string path = "/proc/self/fd/" + std::to_string(fd);
  try {
    insula::block::OpenOptions o;
    o.read_only = true;
    o.open_backing = false;  // a fuzzed name must not open host files
    auto dev = insula::block::open_image(path, o);
    const uint64_t disk = dev->size();
    // Walk at most 256 extents, read at most 1 MiB in total.
    uint64_t pos = 0, budget = 1 << 20;
    std::vector<uint8_t> buf;
    for (int i = 0; i < 256 && pos < disk; ++i) {
      auto e = dev->block_status(pos, disk - pos);
      if (e.length == 0) break;
      uint64_t n = std::min<uint64_t>({e.length, budget, 65536});
      if (n) {
        buf.resize(n);
        try {
          dev->read(pos, buf);
        } catch (const insula::Error&) {
        }
        budget -= n;
      }
      pos += e.length;
    }
    if (auto* q = dynamic_cast<insula::block::Qcow2Image*>(dev.get())) {
      q->check(insula::block::RepairMode::kNone);
      // Snapshot tables: list them; then, on a writable open of the same
      // (private) memfd, apply and delete the first one. Hostile tables must
      // be refused, never acted on.
      auto snaps = q->snapshots();
      if (!snaps.empty()) {
        dev.reset();
        insula::block::OpenOptions w;
        w.open_backing = false;
        auto wdev = insula::block::open_image(path, w);
        if (auto* wq = dynamic_cast<insula::block::Qcow2Image*>(wdev.get())) {
          wq->apply_snapshot(snaps[0].id);
          wq->delete_snapshot(snaps[0].id);
          wq->check(insula::block::RepairMode::kNone);
        }
      }
    }
    // Writes through a writable open (first, middle and last 4 KiB of the
    // disk): entries pointing anywhere must give an Error, never a write
    // onto metadata or a crash.
    dev.reset();
    insula::block::OpenOptions w;
    w.open_backing = false;
    auto wdev = insula::block::open_image(path, w);
    std::vector<uint8_t> data(4096, 0xa5);
    if (disk >= 4096)
      for (uint64_t at : {uint64_t{0}, (disk / 2) & ~uint64_t{4095}, disk - 4096}) {
        try {
          wdev->write(at, data);
        } catch (const insula::Error&) {
        }
      }
    wdev->flush();
  } catch (const insula::Error&) {
  }
  ::close(fd);
  return 0;
}
