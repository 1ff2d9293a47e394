// ImageFile: pread/pwrite loops, fallocate and SEEK_DATA over an image file.
#include "block/file.h"

#include <fcntl.h>
#include <linux/falloc.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <climits>

#include <cerrno>
#include <cstring>
#include <vector>

#include "base/error.h"

namespace insula::block {
namespace {

constexpr uint64_t kDirectAlign = ImageFile::kDirectAlign;

bool aligned(uint64_t offset, const void* buf, size_t len) {
  return offset % kDirectAlign == 0 && len % kDirectAlign == 0 &&
         reinterpret_cast<uintptr_t>(buf) % kDirectAlign == 0;
}

bool all_aligned(uint64_t offset, std::span<const std::span<uint8_t>> bufs) {
  for (auto b : bufs) {
    if (!aligned(offset, b.data(), b.size())) return false;
    offset += b.size();
  }
  return true;
}

// Runs one(offset, rest) for what is left of bufs after their first `done`
// bytes: short or interrupted vectored transfers end on the one-buffer path.
template <typename One>
void finish_each(std::span<const std::span<uint8_t>> bufs, uint64_t offset, size_t done, One&& one) {
  for (auto b : bufs) {
    if (done >= b.size()) {
      done -= b.size();
    } else {
      one(offset + done, b.subspan(done));
      done = 0;
    }
    offset += b.size();
  }
}

std::vector<iovec> iovecs(std::span<const std::span<uint8_t>> bufs) {
  std::vector<iovec> iov;
  iov.reserve(bufs.size());
  for (auto b : bufs) iov.push_back(iovec{b.data(), b.size()});
  return iov;
}

}  // namespace

ImageFile ImageFile::open(const std::string& path, bool read_only, bool direct) {
  ImageFile f;
  f.path_ = path;
  f.read_only_ = read_only;
  int flags = (read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC;
  f.fd_.reset(::open(path.c_str(), flags));
  if (!f.fd_) throw errno_error(fmt::format("cannot open image '{}'", path));
  if (direct) {
    f.direct_fd_.reset(::open(path.c_str(), flags | O_DIRECT));
    if (!f.direct_fd_) throw errno_error(fmt::format("cannot open image '{}' with O_DIRECT (cache=none)", path));
  }
  return f;
}

ImageFile ImageFile::create(const std::string& path) {
  ImageFile f;
  f.path_ = path;
  f.fd_.reset(::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!f.fd_) throw errno_error(fmt::format("cannot create image '{}'", path));
  return f;
}

void ImageFile::read(uint64_t offset, std::span<uint8_t> buf) const {
  int fd = direct_fd_ && aligned(offset, buf.data(), buf.size()) ? direct_fd_.get() : fd_.get();
  size_t done = 0;
  while (done < buf.size()) {
    ssize_t n = ::pread(fd, buf.data() + done, buf.size() - done, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      throw errno_error(fmt::format("read of {} bytes at offset {} of '{}' failed", buf.size(), offset, path_));
    }
    if (n == 0) {  // past end of file: zeros, like a sparse tail
      std::memset(buf.data() + done, 0, buf.size() - done);
      return;
    }
    done += static_cast<size_t>(n);
    if (fd != fd_.get() && done % kDirectAlign) fd = fd_.get();
  }
}

void ImageFile::write(uint64_t offset, std::span<const uint8_t> buf) {
  if (read_only_) throw error("cannot write to '{}': opened read-only", path_);
  int fd = direct_fd_ && aligned(offset, buf.data(), buf.size()) ? direct_fd_.get() : fd_.get();
  size_t done = 0;
  while (done < buf.size()) {
    ssize_t n = ::pwrite(fd, buf.data() + done, buf.size() - done, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      throw errno_error(fmt::format("write of {} bytes at offset {} of '{}' failed", buf.size(), offset, path_));
    }
    done += static_cast<size_t>(n);
    if (fd != fd_.get() && done % kDirectAlign) fd = fd_.get();
  }
}

void ImageFile::sync() {
  if (read_only_) return;
  if (::fdatasync(fd_.get()) < 0) throw errno_error(fmt::format("flush of '{}' failed", path_));
}

uint64_t ImageFile::size() const {
  struct stat st {};
  if (::fstat(fd_.get(), &st) < 0) throw errno_error(fmt::format("stat of '{}' failed", path_));
  if (S_ISBLK(st.st_mode)) {
    off_t end = ::lseek(fd_.get(), 0, SEEK_END);
    if (end < 0) throw errno_error(fmt::format("size of '{}' unknown", path_));
    return static_cast<uint64_t>(end);
  }
  return static_cast<uint64_t>(st.st_size);
}

void ImageFile::truncate(uint64_t size) {
  if (::ftruncate(fd_.get(), static_cast<off_t>(size)) < 0)
    throw errno_error(fmt::format("cannot resize '{}' to {} bytes", path_, size));
}

void ImageFile::zero_range(uint64_t offset, uint64_t length) {
  if (length == 0) return;
  if (::fallocate(fd_.get(), FALLOC_FL_ZERO_RANGE, static_cast<off_t>(offset), static_cast<off_t>(length)) == 0) return;
  // Filesystems without ZERO_RANGE: write zeros in chunks.
  std::vector<uint8_t> zeros(std::min<uint64_t>(length, 1 << 20));
  for (uint64_t done = 0; done < length;) {
    uint64_t n = std::min<uint64_t>(zeros.size(), length - done);
    write(offset + done, std::span<const uint8_t>(zeros.data(), n));
    done += n;
  }
}

void ImageFile::punch_hole(uint64_t offset, uint64_t length) {
  if (length == 0) return;
  if (::fallocate(fd_.get(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(offset),
                  static_cast<off_t>(length)) == 0)
    return;
  uint64_t sz = size();
  if (offset >= sz) return;
  zero_range(offset, std::min(length, sz - offset));
}

uint64_t ImageFile::next_data(uint64_t offset) const {
  off_t r = ::lseek(fd_.get(), static_cast<off_t>(offset), SEEK_DATA);
  if (r < 0) return errno == ENXIO ? size() : offset;  // unsupported: everything is data
  return static_cast<uint64_t>(r);
}

uint64_t ImageFile::next_hole(uint64_t offset) const {
  off_t r = ::lseek(fd_.get(), static_cast<off_t>(offset), SEEK_HOLE);
  if (r < 0) return size();
  return static_cast<uint64_t>(r);
}

void ImageFile::readv(uint64_t offset, std::span<const std::span<uint8_t>> bufs) const {
  size_t done = 0;
  if (!bufs.empty() && bufs.size() <= IOV_MAX) {
    auto iov = iovecs(bufs);
    int fd = direct_fd_ && all_aligned(offset, bufs) ? direct_fd_.get() : fd_.get();
    ssize_t n = ::preadv(fd, iov.data(), int(iov.size()), static_cast<off_t>(offset));
    if (n < 0 && errno != EINTR)
      throw errno_error(fmt::format("vectored read at offset {} of '{}' failed", offset, path_));
    done = n > 0 ? size_t(n) : 0;
  }
  finish_each(bufs, offset, done, [&](uint64_t off, std::span<uint8_t> b) { read(off, b); });
}

void ImageFile::writev(uint64_t offset, std::span<const std::span<uint8_t>> bufs) {
  if (read_only_) throw error("cannot write to '{}': opened read-only", path_);
  size_t done = 0;
  if (!bufs.empty() && bufs.size() <= IOV_MAX) {
    auto iov = iovecs(bufs);
    int fd = direct_fd_ && all_aligned(offset, bufs) ? direct_fd_.get() : fd_.get();
    ssize_t n = ::pwritev(fd, iov.data(), int(iov.size()), static_cast<off_t>(offset));
    if (n < 0 && errno != EINTR)
      throw errno_error(fmt::format("vectored write at offset {} of '{}' failed", offset, path_));
    done = n > 0 ? size_t(n) : 0;
  }
  finish_each(bufs, offset, done, [&](uint64_t off, std::span<uint8_t> b) { write(off, b); });
}

}  // namespace insula::block
