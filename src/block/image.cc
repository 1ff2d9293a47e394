// open_image(): format detection and backing chains (relative names resolved
// against the image's folder; loops and runaway depth refused).
#include <filesystem>
#include <set>

#include "base/error.h"
#include "block/block_device.h"
#include "block/qcow2.h"
#include "block/raw.h"

namespace insula::block {
namespace {

constexpr int kMaxChainDepth = 64;

std::string detect_format(const ImageFile& f) {
  uint8_t magic[4] = {};
  if (f.size() >= 4) f.read(0, magic);
  if (qcow2::be32(magic) == qcow2::kMagic) return "qcow2";
  return "raw";
}

std::unique_ptr<BlockDevice> open_chain(const std::string& path, const OpenOptions& options, std::set<std::string>& seen,
                                        int depth) {
  if (depth > kMaxChainDepth) throw error("backing chain of '{}' is deeper than {} images", path, kMaxChainDepth);
  std::error_code ec;
  std::string real = std::filesystem::weakly_canonical(path, ec).string();
  if (ec) real = path;
  if (!seen.insert(real).second) throw error("backing chain loops: '{}' is its own backing file", path);
  ImageFile f = ImageFile::open(path, options.read_only, options.cache == CacheMode::kDirect);
  std::string format = options.format.empty() ? detect_format(f) : options.format;
  if (format == "raw") return open_raw(std::move(f));
  if (format != "qcow2") throw error("unknown image format '{}' for '{}' (use raw or qcow2)", format, path);
  if (detect_format(f) != "qcow2") throw error("'{}' is not a qcow2 image", path);
  return detail::open_qcow2(std::move(f), options, [&](const qcow2::Header& h) -> std::unique_ptr<BlockDevice> {
    if (options.ignore_backing) return nullptr;
    if (!options.open_backing)
      throw error("'{}' has a backing file ('{}') and backing files are disabled here", path, h.backing_file);
    std::filesystem::path name(h.backing_file);
    if (name.is_relative()) name = std::filesystem::path(path).parent_path() / name;
    OpenOptions bo;
    bo.read_only = true;
    bo.cache = options.cache;
    bo.format = h.backing_format;
    bo.open_backing = true;
    try {
      return open_chain(name.string(), bo, seen, depth + 1);
    } catch (const Error&) {
      rethrow_with_context(fmt::format("cannot open backing file of '{}'", path));
    }
  });
}

}  // namespace

std::unique_ptr<BlockDevice> open_image(const std::string& path, const OpenOptions& options) {
  std::set<std::string> seen;
  return open_chain(path, options, seen, 0);
}

}  // namespace insula::block
