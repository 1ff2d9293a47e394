// Parsing and printing of byte sizes ("512M", "1G", "4096").
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace insula {

// Parses a size with an optional binary suffix: K, M, G, T, P, E (also KiB, k,
// KB...; all powers of 1024 like qemu-img). A bare number is bytes unless
// default_unit says otherwise. Throws Error on garbage or overflow.
uint64_t parse_size(std::string_view text, uint64_t default_unit = 1);

// "1 GiB", "512 MiB", "1.5 KiB", "17 B": human-readable, like qemu-img info.
std::string format_size(uint64_t bytes);

}  // namespace insula
