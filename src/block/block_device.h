// BlockDevice: the one interface every disk format implements (raw, qcow2),
// used by virtio-blk and by `insula img`.
//
// Errors (I/O failures, corrupt metadata, writes to a read-only device) throw
// insula::Error with a message naming the image. Implementations must be safe
// to call from several threads at once (virtio-blk serves requests from a
// worker pool); they serialise their metadata internally.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>

namespace insula::block {

// What a range of the virtual disk holds (qemu-img map's view).
struct Extent {
  enum class Kind {
    kData,         // allocated here, holds data
    kZero,         // reads as zeros (zero cluster, or a hole in raw)
    kUnallocated,  // not here: reads come from the backing file (or zeros)
  };
  uint64_t offset = 0;
  uint64_t length = 0;
  Kind kind = Kind::kData;
  // For kData: offset of the data in the image file, when it is stored
  // uncompressed and contiguously there (-1 otherwise).
  int64_t file_offset = -1;
  // Depth in the backing chain at which this extent was found (0 = top).
  int depth = 0;
};

enum class CacheMode {
  kWriteback,  // page cache; flush() is fdatasync
  kDirect,     // O_DIRECT, bypasses the host page cache
};

struct OpenOptions {
  bool read_only = false;
  std::string format;  // "raw", "qcow2", or "" to detect from the file
  CacheMode cache = CacheMode::kWriteback;
  // false: an image that names a backing file is refused instead of opening
  // it (for untrusted images, e.g. fuzzing).
  bool open_backing = true;
  // true: open without the backing file, as if there were none (for header
  // edits such as `rebase -u` when the old backing file is gone).
  bool ignore_backing = false;
};

class BlockDevice {
 public:
  virtual ~BlockDevice() = default;

  virtual uint64_t size() const = 0;  // virtual disk size in bytes
  virtual bool read_only() const = 0;
  virtual std::string format() const = 0;  // "raw", "qcow2"

  // Reads and writes of any alignment and length within size().
  virtual void read(uint64_t offset, std::span<uint8_t> buf) = 0;
  virtual void write(uint64_t offset, std::span<const uint8_t> buf) = 0;
  // Vectored forms: bufs are consecutive ranges of the disk starting at offset
  // (a virtio request's guest segments). The defaults loop over read/write;
  // formats that can move them in one system call override these.
  virtual void readv(uint64_t offset, std::span<const std::span<uint8_t>> bufs) {
    for (auto b : bufs) {
      read(offset, b);
      offset += b.size();
    }
  }
  virtual void writev(uint64_t offset, std::span<const std::span<uint8_t>> bufs) {
    for (auto b : bufs) {
      write(offset, b);
      offset += b.size();
    }
  }
  // Makes every completed write durable.
  virtual void flush() = 0;
  // Hints that the range is unused; later reads may return zeros or old data.
  virtual void discard(uint64_t offset, uint64_t length) = 0;
  // Makes the range read as zeros, deallocating it where may_unmap allows.
  virtual void write_zeroes(uint64_t offset, uint64_t length, bool may_unmap) = 0;
  // The extent starting at offset, at most max_length long.
  virtual Extent block_status(uint64_t offset, uint64_t max_length) = 0;

  // For a format whose virtual disk is one file's bytes at the same offsets
  // (raw) opened with CacheMode::kDirect: that file's O_DIRECT descriptor and
  // the alignment (of offsets, lengths and buffer addresses) it needs, so a
  // caller may run aligned reads and writes on it asynchronously. fd -1
  // otherwise. The descriptor lives as long as this device.
  struct DirectAccess {
    int fd = -1;
    uint64_t align = 0;
  };
  virtual DirectAccess direct_access() const { return {}; }
};

// Opens an image file (detecting its format unless options.format says),
// with its backing chain. Throws Error naming the file on failure.
std::unique_ptr<BlockDevice> open_image(const std::string& path, const OpenOptions& options = {});

}  // namespace insula::block
