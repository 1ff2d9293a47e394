// create_image() and the -o option parser.
#include <filesystem>
#include <sstream>

#include "base/error.h"
#include "base/size.h"
#include "block/image_ops.h"
#include "block/raw.h"

namespace insula::block {

FormatOptions parse_format_options(const std::string& text) {
  FormatOptions o;
  std::stringstream ss(text);
  std::string item;
  auto boolean = [](const std::string& k, const std::string& v) {
    if (v == "on" || v == "true" || v == "yes") return true;
    if (v == "off" || v == "false" || v == "no") return false;
    throw error("option {}={}: expected on or off", k, v);
  };
  while (std::getline(ss, item, ',')) {
    if (item.empty()) continue;
    auto eq = item.find('=');
    if (eq == std::string::npos) throw error("option '{}' needs a value (key=value)", item);
    std::string k = item.substr(0, eq), v = item.substr(eq + 1);
    if (k == "cluster_size") o.cluster_size = parse_size(v);
    else if (k == "compat") {
      if (v == "0.10" || v == "v2") o.version = 2;
      else if (v == "1.1" || v == "v3") o.version = 3;
      else throw error("compat={} is invalid: use 0.10 or 1.1", v);
    } else if (k == "refcount_bits") o.refcount_bits = static_cast<uint32_t>(parse_size(v));
    else if (k == "lazy_refcounts") o.lazy_refcounts = boolean(k, v);
    else if (k == "compression_type") {
      if (v != "zlib" && v != "zstd") throw error("compression_type={} is invalid: use zlib or zstd", v);
      o.compression_type = v;
    } else if (k == "backing_file") o.backing_file = v;
    else if (k == "backing_fmt") o.backing_format = v;
    else if (k == "size") o.size = parse_size(v);
    else if (k == "preallocation") {
      if (v != "off" && v != "metadata" && v != "falloc" && v != "full")
        throw error("preallocation={} is invalid: use off, metadata, falloc or full", v);
      o.preallocation = v;
    } else throw error("unsupported option '{}' (supported: cluster_size, compat, refcount_bits, lazy_refcounts, compression_type, backing_file, backing_fmt, size, preallocation)", k);
  }
  return o;
}

CreatedImage create_image(const CreateRequest& req) {
  std::string backing = req.options.backing_file.value_or(req.backing_file);
  std::string backing_format = req.options.backing_format.value_or(req.backing_format);
  std::optional<uint64_t> size = req.size ? req.size : req.options.size;
  if (!backing.empty()) {
    if (req.format != "qcow2") throw error("format '{}' does not support backing files (use -f qcow2)", req.format);
    std::filesystem::path b(backing);
    if (b.is_relative()) b = std::filesystem::path(req.path).parent_path() / b;
    if (!req.unsafe || !size) {
      OpenOptions oo;
      oo.read_only = true;
      oo.format = backing_format;
      std::unique_ptr<BlockDevice> dev;
      try {
        dev = open_image(b.string(), oo);
      } catch (const Error&) {
        rethrow_with_context(fmt::format("cannot open backing file '{}'", backing));
      }
      if (backing_format.empty()) backing_format = dev->format();
      if (!size) size = dev->size();
    }
  }
  if (req.options.preallocation.value_or("off") != "off")
    throw error("preallocation={} is not supported by insula (only off); images grow as they are written",
                *req.options.preallocation);
  if (!size) throw error("no size given for '{}' (e.g. `insula img create -f {} {} 10G`)", req.path, req.format, req.path);
  if (req.format == "raw") {
    if (req.options.cluster_size || req.options.version || req.options.refcount_bits)
      throw error("raw images take no format options");
    create_raw(req.path, *size);
    return {*size, "", ""};
  }
  if (req.format != "qcow2") throw error("unknown format '{}' (use raw or qcow2)", req.format);
  Qcow2CreateOptions q;
  q.size = *size;
  if (req.options.cluster_size) q.cluster_size = *req.options.cluster_size;
  if (req.options.version) q.version = *req.options.version;
  if (req.options.refcount_bits) q.refcount_bits = *req.options.refcount_bits;
  if (req.options.lazy_refcounts) q.lazy_refcounts = *req.options.lazy_refcounts;
  if (req.options.compression_type == "zstd") q.compression_type = qcow2::kCompressionZstd;
  q.backing_file = backing;
  q.backing_format = backing_format;
  create_qcow2(req.path, q);
  return {*size, backing, backing_format};
}

}  // namespace insula::block
