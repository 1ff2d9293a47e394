// RawDevice: a disk image that is the disk's bytes, holes read as zeros.
#pragma once

#include <memory>

#include "block/block_device.h"
#include "block/file.h"

namespace insula::block {

std::unique_ptr<BlockDevice> open_raw(ImageFile file);

// Creates a sparse raw image of size bytes.
void create_raw(const std::string& path, uint64_t size);

}  // namespace insula::block
