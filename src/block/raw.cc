// RawDevice: reads and writes go straight to the file; zeroing punches holes
// so images stay sparse; block_status reports holes with SEEK_HOLE/SEEK_DATA.
#include "block/raw.h"

#include "base/error.h"

namespace insula::block {
namespace {

uint64_t total(std::span<const std::span<uint8_t>> bufs) {
  uint64_t n = 0;
  for (auto b : bufs) n += b.size();
  return n;
}

class RawDevice final : public BlockDevice {
 public:
  explicit RawDevice(ImageFile file) : file_(std::move(file)), size_(file_.size()) {}

  uint64_t size() const override { return size_; }
  bool read_only() const override { return file_.read_only(); }
  std::string format() const override { return "raw"; }

  void read(uint64_t offset, std::span<uint8_t> buf) override {
    check_range(offset, buf.size());
    file_.read(offset, buf);
  }
  void write(uint64_t offset, std::span<const uint8_t> buf) override {
    check_range(offset, buf.size());
    file_.write(offset, buf);
  }
  void readv(uint64_t offset, std::span<const std::span<uint8_t>> bufs) override {
    check_range(offset, total(bufs));
    file_.readv(offset, bufs);
  }
  void writev(uint64_t offset, std::span<const std::span<uint8_t>> bufs) override {
    check_range(offset, total(bufs));
    file_.writev(offset, bufs);
  }
  void flush() override { file_.sync(); }
  void discard(uint64_t offset, uint64_t length) override {
    check_range(offset, length);
    if (file_.read_only()) throw error("cannot discard on '{}': opened read-only", file_.path());
    file_.punch_hole(offset, length);
  }
  void write_zeroes(uint64_t offset, uint64_t length, bool may_unmap) override {
    check_range(offset, length);
    if (file_.read_only()) throw error("cannot write to '{}': opened read-only", file_.path());
    if (may_unmap)
      file_.punch_hole(offset, length);
    else
      file_.zero_range(offset, length);
  }
  DirectAccess direct_access() const override { return {file_.direct_fd(), ImageFile::kDirectAlign}; }
  Extent block_status(uint64_t offset, uint64_t max_length) override {
    Extent e;
    e.offset = offset;
    uint64_t end = std::min(size_, offset + max_length);
    uint64_t data = file_.next_data(offset);
    if (data > offset) {
      e.kind = Extent::Kind::kZero;
      e.length = std::min(data, end) - offset;
    } else {
      e.kind = Extent::Kind::kData;
      e.length = std::min(file_.next_hole(offset), end) - offset;
      e.file_offset = static_cast<int64_t>(offset);
    }
    if (e.length == 0) e.length = end - offset;
    return e;
  }

 private:
  void check_range(uint64_t offset, uint64_t length) const {
    if (offset > size_ || length > size_ - offset)
      throw error("request at {} of {} bytes is beyond the end of '{}' ({} bytes)", offset, length, file_.path(), size_);
  }

  ImageFile file_;
  uint64_t size_;
};

}  // namespace

std::unique_ptr<BlockDevice> open_raw(ImageFile file) { return std::make_unique<RawDevice>(std::move(file)); }

void create_raw(const std::string& path, uint64_t size) {
  ImageFile f = ImageFile::create(path);
  f.truncate(size);
}

}  // namespace insula::block
