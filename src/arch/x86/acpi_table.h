// Byte-level building blocks shared by the ACPI table builders: a table
// with the standard 36-byte description header, little-endian field
// writers, Generic Address Structures and the checksum rule.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>
#include <vector>

namespace insula::x86 {

using TableBytes = std::vector<uint8_t>;

// The identity every table carries (OEM fields of the header).
inline constexpr std::string_view kAcpiOemId = "INSULA";      // 6 chars
inline constexpr std::string_view kAcpiOemTableId = "INSULAVM";  // 8 chars
inline constexpr std::string_view kAcpiCreatorId = "INSL";     // 4 chars
inline constexpr uint32_t kAcpiOemRevision = 1;
inline constexpr uint32_t kAcpiCreatorRevision = 1;
inline constexpr size_t kAcpiHeaderSize = 36;

// Sum of bytes mod 256 (a valid table sums to 0).
uint8_t acpi_sum(const uint8_t* data, size_t len);

// Appends little-endian fields to a byte vector.
class ByteWriter {
 public:
  void u8(uint8_t v) { b_.push_back(v); }
  void u16(uint16_t v) { le(v, 2); }
  void u32(uint32_t v) { le(v, 4); }
  void u64(uint64_t v) { le(v, 8); }
  void chars(std::string_view s, size_t n);  // padded with spaces to n
  void zeros(size_t n) { b_.insert(b_.end(), n, 0); }
  void bytes(const std::vector<uint8_t>& v) { b_.insert(b_.end(), v.begin(), v.end()); }
  // Generic Address Structure (ACPI 6.5 §5.2.3.2).
  void gas(uint8_t space, uint8_t bit_width, uint8_t access_size, uint64_t address);
  size_t size() const { return b_.size(); }
  std::vector<uint8_t>& data() { return b_; }

 private:
  void le(uint64_t v, int n) {
    for (int i = 0; i < n; ++i) b_.push_back(uint8_t(v >> (8 * i)));
  }
  std::vector<uint8_t> b_;
};

inline constexpr uint8_t kGasSystemMemory = 0;
inline constexpr uint8_t kGasSystemIo = 1;

// A System Description Table: header written by the constructor, body
// appended by the caller, length and checksum filled in by finish().
class SdtWriter : public ByteWriter {
 public:
  SdtWriter(std::string_view signature, uint8_t revision);
  TableBytes finish();
};

}  // namespace insula::x86
