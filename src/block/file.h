// ImageFile: positional I/O on one image file, with an optional O_DIRECT twin
// descriptor used for aligned requests (metadata and unaligned I/O go through
// the page cache so they need no bounce buffers).
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "base/fd.h"

namespace insula::block {

class ImageFile {
 public:
  // Opens path; throws Error naming it. direct adds an O_DIRECT descriptor.
  static ImageFile open(const std::string& path, bool read_only, bool direct = false);
  // Creates (or truncates) a file for a new image.
  static ImageFile create(const std::string& path);

  // Offsets, lengths and buffer addresses of I/O on the O_DIRECT descriptor
  // are multiples of this.
  static constexpr uint64_t kDirectAlign = 4096;

  const std::string& path() const { return path_; }
  // The O_DIRECT descriptor, or -1 when opened without one.
  int direct_fd() const { return direct_fd_ ? direct_fd_.get() : -1; }
  bool read_only() const { return read_only_; }

  // Reads buf.size() bytes at offset; bytes past end of file read as zeros.
  void read(uint64_t offset, std::span<uint8_t> buf) const;
  void write(uint64_t offset, std::span<const uint8_t> buf);
  // One preadv/pwritev for consecutive ranges at offset (a request's segments);
  // O_DIRECT only when every segment is aligned. Reads past end of file give zeros.
  void readv(uint64_t offset, std::span<const std::span<uint8_t>> bufs) const;
  void writev(uint64_t offset, std::span<const std::span<uint8_t>> bufs);
  void sync();
  uint64_t size() const;
  void truncate(uint64_t size);
  // Makes [offset, offset+length) read as zeros, extending the file if needed.
  void zero_range(uint64_t offset, uint64_t length);
  // Deallocates the range (reads as zeros) without changing the file size.
  void punch_hole(uint64_t offset, uint64_t length);
  // The next data at or after offset (SEEK_DATA), or size() when none.
  uint64_t next_data(uint64_t offset) const;
  uint64_t next_hole(uint64_t offset) const;

 private:
  std::string path_;
  UniqueFd fd_;
  UniqueFd direct_fd_;
  bool read_only_ = false;
};

}  // namespace insula::block
