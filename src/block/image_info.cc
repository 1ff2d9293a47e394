// image_info(): what `insula img info` shows, for one image or a chain.
#include <sys/stat.h>

#include <filesystem>

#include "base/error.h"
#include "block/image_ops.h"

namespace insula::block {

namespace {

ImageInfo info_of(const std::string& path, BlockDevice& dev) {
  ImageInfo i;
  i.filename = path;
  i.format = dev.format();
  i.virtual_size = dev.size();
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0) i.actual_size = static_cast<uint64_t>(st.st_blocks) * 512;
  if (auto* q = dynamic_cast<Qcow2Image*>(&dev)) {
    const auto& h = q->header();
    i.cluster_size = h.cluster_size();
    i.backing_filename = h.backing_file;
    if (!h.backing_file.empty()) {
      std::filesystem::path b(h.backing_file);
      i.full_backing_filename =
          b.is_relative() ? (std::filesystem::path(path).parent_path() / b).lexically_normal().string() : b.string();
      if (std::filesystem::path(path).parent_path().empty()) i.full_backing_filename = h.backing_file;
    }
    i.backing_format = h.backing_format;
    i.dirty = (h.incompatible_features & qcow2::kIncompatDirty) != 0;
    i.corrupt = (h.incompatible_features & qcow2::kIncompatCorrupt) != 0;
    i.compat = h.version == 2 ? "0.10" : "1.1";
    i.compression_type = h.compression_type == qcow2::kCompressionZstd ? "zstd" : "zlib";
    i.lazy_refcounts = (h.compatible_features & qcow2::kCompatLazyRefcounts) != 0;
    i.refcount_bits = 1U << h.refcount_order;
    for (const auto& s : q->snapshots())
      i.snapshots.push_back({s.id, s.name, s.vm_state_size, s.date_sec, s.date_nsec, s.vm_clock_nsec, s.icount});
  }
  return i;
}

}  // namespace

std::vector<ImageInfo> image_info(const std::string& path, const std::string& format, bool backing_chain) {
  OpenOptions o;
  o.read_only = true;
  o.format = format;
  auto dev = open_image(path, o);
  std::vector<ImageInfo> out{info_of(path, *dev)};
  if (!backing_chain) return out;
  BlockDevice* cur = dev.get();
  while (auto* q = dynamic_cast<Qcow2Image*>(cur)) {
    if (!q->backing()) break;
    cur = q->backing();
    out.push_back(info_of(out.back().full_backing_filename, *cur));
  }
  return out;
}

}  // namespace insula::block
