// The disk files a VM's directory or an image holds: fresh blank disks,
// qcow2 overlays over a base, and flattened copies, all made with the block
// layer (src/block), never a shell-out.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace insula::manager {

using DiskProgress = std::function<void(double)>;

// Adds one drive per size (a fresh qcow2 disk made in dir, blankN.qcow2) to
// a devices record's "drives".
void add_blank_disks(nlohmann::json& devices, const std::string& dir, const std::vector<uint64_t>& sizes);
// A qcow2 overlay at path whose backing file is base (size and format from it).
void make_overlay(const std::string& path, const std::string& base, const std::string& base_format);
// Copies an image with its whole backing chain into one qcow2 file at dest,
// flushed. progress (may be empty) goes 0..1.
void flatten_disk(const std::string& source, const std::string& source_format, const std::string& dest,
                  const DiskProgress& progress);
// Progress of disk i of n as a part of the whole.
DiskProgress part_of(const DiskProgress& whole, size_t i, size_t n);

}  // namespace insula::manager
