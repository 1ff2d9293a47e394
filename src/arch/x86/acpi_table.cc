// ACPI table header, field writers and checksum.
#include "arch/x86/acpi_table.h"

namespace insula::x86 {

uint8_t acpi_sum(const uint8_t* data, size_t len) {
  uint8_t s = 0;
  for (size_t i = 0; i < len; ++i) s = uint8_t(s + data[i]);
  return s;
}

void ByteWriter::chars(std::string_view s, size_t n) {
  for (size_t i = 0; i < n; ++i) u8(i < s.size() ? uint8_t(s[i]) : uint8_t(' '));
}

void ByteWriter::gas(uint8_t space, uint8_t bit_width, uint8_t access_size, uint64_t address) {
  u8(space);
  u8(bit_width);
  u8(0);  // bit offset
  u8(access_size);
  u64(address);
}

SdtWriter::SdtWriter(std::string_view signature, uint8_t revision) {
  chars(signature, 4);
  u32(0);  // length, set by finish()
  u8(revision);
  u8(0);  // checksum, set by finish()
  chars(kAcpiOemId, 6);
  chars(kAcpiOemTableId, 8);
  u32(kAcpiOemRevision);
  chars(kAcpiCreatorId, 4);
  u32(kAcpiCreatorRevision);
}

TableBytes SdtWriter::finish() {
  TableBytes t = std::move(data());
  uint32_t len = uint32_t(t.size());
  for (int i = 0; i < 4; ++i) t[4 + i] = uint8_t(len >> (8 * i));
  t[9] = 0;
  t[9] = uint8_t(-acpi_sum(t.data(), t.size()));
  return t;
}

}  // namespace insula::x86
