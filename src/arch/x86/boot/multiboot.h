// Multiboot v1 definitions shared by detection and the loader.
#pragma once

#include <cstdint>
#include <optional>
#include <span>

namespace insula::x86 {

constexpr uint32_t kXenElfNotePhys32Entry = 18;  // XEN_ELFNOTE_PHYS32_ENTRY

constexpr uint32_t kMultibootHeaderMagic = 0x1badb002;
constexpr uint32_t kMultibootBootloaderMagic = 0x2badb002;

struct MultibootHeader {
  uint32_t magic, flags, checksum;
  uint32_t header_addr, load_addr, load_end_addr, bss_end_addr, entry_addr;  // valid with flag bit 16
};

struct FoundMultibootHeader {
  MultibootHeader header;
  uint64_t offset;  // in the file
};

// Searches the first 8 KiB, 4-byte aligned, for a header whose checksum holds.
std::optional<FoundMultibootHeader> find_multiboot_header(std::span<const uint8_t> kernel);

}  // namespace insula::x86
