// Compressed clusters: raw deflate (zlib, window 12 bits as QEMU writes) and
// zstd, the two compression types of qcow2.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

namespace insula::block::qcow2 {

// Decompresses into out (exactly one cluster); false if the data is bad.
bool decompress_cluster(uint8_t type, std::span<const uint8_t> in, std::span<uint8_t> out);

// Compresses one cluster; nullopt if it would not save at least one 512-byte sector.
std::optional<std::vector<uint8_t>> compress_cluster(uint8_t type, std::span<const uint8_t> in);

}  // namespace insula::block::qcow2
