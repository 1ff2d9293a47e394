// Blank disks, overlays and flattened copies for clones and images.
#include "manager/vm_disks.h"

#include <fmt/format.h>

#include "api/device_bodies.h"
#include "block/image_ops.h"

namespace insula::manager {

void add_blank_disks(nlohmann::json& devices, const std::string& dir, const std::vector<uint64_t>& sizes) {
  auto& drives = devices["drives"];
  if (!drives.is_array()) drives = nlohmann::json::array();
  for (size_t i = 0; i < sizes.size(); ++i) {
    block::CreateRequest c;
    c.path = fmt::format("{}/blank{}.qcow2", dir, i);
    c.format = "qcow2";
    c.size = sizes[i];
    block::create_image(c);
    vmm::DiskConfig d;
    d.path = c.path;
    d.format = "qcow2";
    drives.push_back(api::drive_body({fmt::format("disk{}", drives.size()), false, d}));
  }
}

void make_overlay(const std::string& path, const std::string& base, const std::string& base_format) {
  block::CreateRequest c;
  c.path = path;
  c.format = "qcow2";
  c.backing_file = base;
  c.backing_format = base_format;
  block::create_image(c);
}

void flatten_disk(const std::string& source, const std::string& source_format, const std::string& dest,
                  const DiskProgress& progress) {
  block::ConvertRequest c;
  c.source = source;
  c.source_format = source_format;
  c.dest = dest;
  c.dest_format = "qcow2";
  c.flush = true;  // a record will point at it: it must be on disk first
  block::convert_image(c, progress);
}

DiskProgress part_of(const DiskProgress& whole, size_t i, size_t n) {
  if (!whole) return {};
  return [whole, i, n](double f) { whole((static_cast<double>(i) + f) / static_cast<double>(n)); };
}

}  // namespace insula::manager
