// zlib and zstd codecs for qcow2 compressed clusters.
#include "block/qcow2_compress.h"

#include <zlib.h>
#include <zstd.h>

#include "block/qcow2_format.h"

namespace insula::block::qcow2 {

bool decompress_cluster(uint8_t type, std::span<const uint8_t> in, std::span<uint8_t> out) {
  if (type == kCompressionZstd) {
    // QEMU writes a zstd frame; the stored size is rounded up to sectors, so
    // stream-decode and stop when the cluster is full.
    ZSTD_DCtx* ctx = ZSTD_createDCtx();
    if (!ctx) return false;
    ZSTD_inBuffer ib{in.data(), in.size(), 0};
    ZSTD_outBuffer ob{out.data(), out.size(), 0};
    bool ok = true;
    while (ob.pos < ob.size) {
      size_t r = ZSTD_decompressStream(ctx, &ob, &ib);
      if (ZSTD_isError(r)) { ok = false; break; }
      if (r == 0 || ib.pos == ib.size) break;
    }
    ZSTD_freeDCtx(ctx);
    return ok && ob.pos == ob.size;
  }
  z_stream s{};
  if (inflateInit2(&s, -12) != Z_OK) return false;
  s.next_in = const_cast<Bytef*>(in.data());
  s.avail_in = static_cast<uInt>(in.size());
  s.next_out = out.data();
  s.avail_out = static_cast<uInt>(out.size());
  int r = inflate(&s, Z_FINISH);
  bool ok = (r == Z_STREAM_END || r == Z_BUF_ERROR || r == Z_OK) && s.avail_out == 0;
  inflateEnd(&s);
  return ok;
}

std::optional<std::vector<uint8_t>> compress_cluster(uint8_t type, std::span<const uint8_t> in) {
  std::vector<uint8_t> out(in.size());
  size_t len = 0;
  if (type == kCompressionZstd) {
    size_t r = ZSTD_compress(out.data(), out.size(), in.data(), in.size(), 1);
    if (ZSTD_isError(r)) return std::nullopt;
    len = r;
  } else {
    z_stream s{};
    if (deflateInit2(&s, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -12, 9, Z_DEFAULT_STRATEGY) != Z_OK) return std::nullopt;
    s.next_in = const_cast<Bytef*>(in.data());
    s.avail_in = static_cast<uInt>(in.size());
    s.next_out = out.data();
    s.avail_out = static_cast<uInt>(out.size());
    int r = deflate(&s, Z_FINISH);
    len = out.size() - s.avail_out;
    deflateEnd(&s);
    if (r != Z_STREAM_END) return std::nullopt;
  }
  if (len + 512 > in.size()) return std::nullopt;
  out.resize(len);
  return out;
}

}  // namespace insula::block::qcow2
