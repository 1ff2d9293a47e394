// rebase_image(): point an overlay at another backing file. Safe mode first
// copies into the overlay every range it does not hold itself where the old
// and new backing files differ, so the overlay reads the same afterwards.
#include <cstring>
#include <filesystem>

#include "base/error.h"
#include "block/image_ops.h"

namespace insula::block {

void rebase_image(const std::string& path, const std::string& format, const std::string& backing,
                  const std::string& backing_format, bool unsafe, const Progress& progress) {
  OpenOptions o;
  o.format = format;
  o.ignore_backing = unsafe;  // the old backing file may be gone
  std::unique_ptr<BlockDevice> dev = open_image(path, o);
  auto* top = dynamic_cast<Qcow2Image*>(dev.get());
  if (!top) throw error("'{}' is not a qcow2 image; only qcow2 images have backing files", path);
  std::string new_format = backing_format;
  if (!unsafe) {
    std::unique_ptr<BlockDevice> nb;
    if (!backing.empty()) {
      std::filesystem::path p(backing);
      if (p.is_relative()) p = std::filesystem::path(path).parent_path() / p;
      OpenOptions bo;
      bo.read_only = true;
      bo.format = backing_format;
      nb = open_image(p.string(), bo);
      if (new_format.empty()) new_format = nb->format();
    }
    const uint64_t size = top->size();
    const uint64_t nb_size = nb ? nb->size() : 0;
    std::vector<uint8_t> old_data, new_data;
    for (uint64_t pos = 0; pos < size;) {
      Extent e = top->block_status(pos, std::min<uint64_t>(size - pos, 4 << 20));
      uint64_t n = std::min(std::max<uint64_t>(e.length, 1), size - pos);
      if (e.depth > 0 || e.kind == Extent::Kind::kUnallocated) {
        old_data.resize(n);
        new_data.assign(n, 0);
        top->read(pos, old_data);
        if (nb && pos < nb_size) nb->read(pos, std::span(new_data).first(std::min(n, nb_size - pos)));
        // Copy only the clusters that differ.
        uint64_t cs = top->cluster_size();
        for (uint64_t off = 0; off < n;) {
          uint64_t m = std::min(cs - (pos + off) % cs, n - off);
          if (std::memcmp(&old_data[off], &new_data[off], m) != 0)
            top->write(pos + off, std::span<const uint8_t>(old_data).subspan(off, m));
          off += m;
        }
      }
      pos += n;
      if (progress) progress(static_cast<double>(pos) / static_cast<double>(size));
    }
    top->flush();
  }
  top->set_backing(backing, new_format);
}

}  // namespace insula::block
