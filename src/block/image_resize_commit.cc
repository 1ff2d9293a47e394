// resize_image() and commit_image(): the library side of `insula img resize`
// and `insula img commit`.
#include <filesystem>

#include "base/error.h"
#include "block/file.h"
#include "block/image_ops.h"

namespace insula::block {

void resize_image(const std::string& path, const std::string& format, uint64_t new_size, bool shrink) {
  OpenOptions o;
  o.format = format;
  auto dev = open_image(path, o);
  if (auto* q = dynamic_cast<Qcow2Image*>(dev.get())) {
    q->resize(new_size, shrink);
    return;
  }
  if (new_size < dev->size() && !shrink)
    throw error("shrinking '{}' would lose data past {} bytes; pass --shrink if that is intended", path, new_size);
  dev.reset();
  ImageFile f = ImageFile::open(path, false);
  f.truncate(new_size);
}

void commit_image(const std::string& path, const std::string& format, bool keep_top, const Progress& progress) {
  OpenOptions o;
  o.format = format;
  auto top_dev = open_image(path, o);
  auto* top = dynamic_cast<Qcow2Image*>(top_dev.get());
  if (!top || !top->backing()) throw error("'{}' has no backing file to commit into", path);
  std::filesystem::path bpath(top->header().backing_file);
  if (bpath.is_relative()) bpath = std::filesystem::path(path).parent_path() / bpath;
  OpenOptions bo;
  bo.format = top->header().backing_format;
  auto base = open_image(bpath.string(), bo);
  const uint64_t size = std::min(top->size(), base->size());
  std::vector<uint8_t> buf;
  for (uint64_t pos = 0; pos < size;) {
    Extent e = top->block_status(pos, std::min<uint64_t>(size - pos, 8 << 20));
    uint64_t n = std::min(e.length, size - pos);
    if (n == 0) break;
    if (e.depth == 0 && e.kind == Extent::Kind::kData) {
      buf.resize(n);
      top->read(pos, buf);
      base->write(pos, buf);
    } else if (e.depth == 0 && e.kind == Extent::Kind::kZero) {
      base->write_zeroes(pos, n, false);
    }
    pos += n;
    if (progress) progress(static_cast<double>(pos) / static_cast<double>(size));
  }
  base->flush();
  if (!keep_top) {
    top->make_empty();
    top->flush();
  }
}

}  // namespace insula::block
