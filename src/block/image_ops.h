// Whole-image operations behind `insula img`: create, info, convert, compare,
// with the decisions here and the printing in src/cli/img_*.cc.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "block/block_device.h"
#include "block/qcow2.h"

namespace insula::block {

// Called with the fraction done (0..1).
using Progress = std::function<void(double)>;

// Format options as given with -o (key=value, comma separated), qemu-img names.
struct FormatOptions {
  std::optional<uint64_t> cluster_size;
  std::optional<uint32_t> version;  // from compat=0.10|1.1|v2|v3
  std::optional<uint32_t> refcount_bits;
  std::optional<bool> lazy_refcounts;
  std::optional<std::string> compression_type;  // zlib | zstd
  std::optional<std::string> backing_file, backing_format;
  std::optional<uint64_t> size;
  std::optional<std::string> preallocation;  // off | metadata | falloc | full (create takes only off)
};
FormatOptions parse_format_options(const std::string& text);

struct CreateRequest {
  std::string path;
  std::string format = "raw";
  std::optional<uint64_t> size;  // defaults to the backing file's size
  FormatOptions options;
  std::string backing_file, backing_format;
  bool unsafe = false;  // -u: do not open the backing file
};
// What create_image() settled on: the size (from the backing file when not
// given) and the backing format (detected when not given).
struct CreatedImage {
  uint64_t size = 0;
  std::string backing_file, backing_format;
};
CreatedImage create_image(const CreateRequest& req);

struct ImageInfo {
  std::string filename, format;
  uint64_t virtual_size = 0, actual_size = 0;
  uint64_t cluster_size = 0;
  std::string backing_filename, full_backing_filename, backing_format;
  bool dirty = false;
  // qcow2 specifics
  std::string compat;
  std::string compression_type;
  bool lazy_refcounts = false, corrupt = false;
  uint32_t refcount_bits = 0;
  struct Snap {
    std::string id, name;
    uint64_t vm_state_size = 0;
    uint32_t date_sec = 0, date_nsec = 0;
    uint64_t vm_clock_nsec = 0;
    uint64_t icount = UINT64_MAX;
  };
  std::vector<Snap> snapshots;
};
// Info for one image, or the whole chain (top first) with backing_chain.
std::vector<ImageInfo> image_info(const std::string& path, const std::string& format, bool backing_chain);

struct ConvertRequest {
  std::string source, source_format;
  std::string dest, dest_format = "raw";
  bool compress = false;
  // Like qemu-img convert's default cache mode "unsafe", the output is not
  // flushed unless asked (-t writeback/none): a crashed convert is redone.
  bool flush = false;
  FormatOptions options;
  // -B/-F: the output is an overlay of this file (qcow2 only); only the
  // clusters where the source reads differently from it are written.
  std::string backing_file, backing_format;
  // Windows copied in parallel (-m); 0 = the default. Not used with -B.
  unsigned threads = 0;
  // -l: copy this internal snapshot of the (qcow2) source instead of its
  // active disk; qemu-img's forms "ID_OR_NAME", "snapshot.id=ID",
  // "snapshot.name=NAME" or both joined by a comma.
  std::string snapshot;
};
void convert_image(const ConvertRequest& req, const Progress& progress);

struct CompareResult {
  bool identical = true;
  uint64_t offset = 0;  // first difference
  std::string reason;   // when !identical and not a content mismatch
};
CompareResult compare_images(const std::string& a, const std::string& fa, const std::string& b, const std::string& fb,
                             bool strict, const Progress& progress);

// True when every byte of buf is zero.
bool is_zero(std::span<const uint8_t> buf);

}  // namespace insula::block

namespace insula::block {

// Grows (or with shrink, shrinks) an image's virtual size.
void resize_image(const std::string& path, const std::string& format, uint64_t new_size, bool shrink);

// Writes the overlay's own clusters into its backing file; then empties the
// overlay unless keep_top (qemu-img commit -d).
void commit_image(const std::string& path, const std::string& format, bool keep_top, const Progress& progress);

}  // namespace insula::block

namespace insula::block {

// Points the overlay at another backing file ("" for none). Unless unsafe,
// first copies into it what would otherwise read differently.
void rebase_image(const std::string& path, const std::string& format, const std::string& backing,
                  const std::string& backing_format, bool unsafe, const Progress& progress);

}  // namespace insula::block

namespace insula::block {

// qemu-img measure: the file size a new image needs, for a given virtual
// size or to hold a copy of an existing image. Same formulas as qemu-img, so
// the numbers are equal for the same inputs.
struct MeasureRequest {
  std::string source, source_format;  // source empty: measure for `size`
  std::optional<uint64_t> size;
  std::string dest_format = "raw";
  FormatOptions options;
};
struct MeasureResult {
  uint64_t required = 0;         // for the data in use (or none, with size)
  uint64_t fully_allocated = 0;  // if every cluster were written
  std::optional<uint64_t> bitmaps;  // qcow2 v3 output from a qcow2 v3 source
};
MeasureResult measure_image(const MeasureRequest& req);

}  // namespace insula::block
