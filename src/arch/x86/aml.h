// A small encoder for ACPI Machine Language (ACPI 6.5 chapter 20) and
// resource descriptors (chapter 6.4): just what our DSDT needs: names,
// scopes, devices, packages, integers, strings, EISA IDs and resource
// templates. Each function returns the encoded bytes of one term, so a
// table reads like the ASL it stands for.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string_view>
#include <vector>

namespace insula::x86::aml {

using Bytes = std::vector<uint8_t>;

// A NameString: "\\_SB_.PCI0", "_S5", "^FOO"; segments shorter than four
// characters are padded with '_'. Throws Error on an invalid name.
Bytes name_string(std::string_view path);
// The PkgLength encoding for `content_len` bytes that follow it.
Bytes pkg_length(size_t content_len);

// Data objects.
Bytes integer(uint64_t v);  // smallest encoding (Zero/One/Byte...QWord)
Bytes dword(uint32_t v);    // always DWordConst
Bytes string(std::string_view s);
Bytes eisa_id(std::string_view id);  // "PNP0A03" -> compressed DWordConst
Bytes package(const std::vector<Bytes>& elements);
Bytes buffer(const Bytes& data);

// Named objects and scopes.
Bytes name(std::string_view path, const Bytes& value);  // Name(path, value)
Bytes scope(std::string_view path, const std::vector<Bytes>& terms);
Bytes device(std::string_view path, const std::vector<Bytes>& terms);

// Concatenation.
Bytes join(const std::vector<Bytes>& parts);

// ResourceTemplate() { ... }: descriptors in order, then the end tag;
// build() gives the Buffer term.
class ResourceTemplate {
 public:
  // IO(Decode16, min, max, align, len)
  ResourceTemplate& io(uint16_t min, uint16_t max, uint8_t align, uint8_t len);
  // IRQNoFlags() {irq} (edge, active-high, exclusive: ISA)
  ResourceTemplate& irq(uint8_t irq);
  // Memory32Fixed(ReadWrite, base, len)
  ResourceTemplate& memory32_fixed(uint32_t base, uint32_t len);
  // Bridge windows (ResourceProducer, MinFixed, MaxFixed, PosDecode),
  // [min, min+len); len must not be 0.
  ResourceTemplate& bus_numbers(uint16_t min, uint16_t len);
  ResourceTemplate& io_window(uint16_t min, uint32_t len);
  ResourceTemplate& mmio32_window(uint32_t min, uint64_t len);
  ResourceTemplate& mmio64_window(uint64_t min, uint64_t len);
  // QWordMemory(ResourceConsumer, ...) for a region above 4 GiB that a
  // device only claims (motherboard resources).
  ResourceTemplate& memory64_consumer(uint64_t min, uint64_t len);

  Bytes build() const;

 private:
  Bytes data_;
};

}  // namespace insula::x86::aml
