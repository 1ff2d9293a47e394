// Just enough ELF (32- and 64-bit, little-endian x86) to load kernels:
// program headers and notes, every offset checked against the file.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "base/guest_memory.h"

namespace insula::x86 {

struct ElfSegment {
  uint64_t paddr;
  uint64_t vaddr;
  uint64_t file_offset;
  uint64_t file_size;
  uint64_t mem_size;
};

struct ElfImage {
  bool is64 = false;
  uint64_t entry = 0;
  std::vector<ElfSegment> loads;  // PT_LOAD
  std::vector<ElfSegment> notes;  // PT_NOTE
};

bool is_elf(std::span<const uint8_t> file);
// Parses headers; throws Error on anything malformed.
ElfImage parse_elf(std::span<const uint8_t> file);
// The descriptor of the first note with this name and type, if any.
std::optional<std::span<const uint8_t>> find_elf_note(std::span<const uint8_t> file, const ElfImage& elf,
                                                      std::string_view name, uint32_t type);
// Copies PT_LOAD segments to their physical addresses and zeroes their BSS;
// returns the highest physical address used. Throws if a segment misses RAM.
uint64_t load_elf_segments(std::span<const uint8_t> file, const ElfImage& elf, const GuestMemory& mem);

}  // namespace insula::x86
