// AML and resource-descriptor encoding (ACPI 6.5 §20.2 and §6.4).
#include "arch/x86/aml.h"

#include "base/error.h"

namespace insula::x86::aml {
namespace {

// AML opcodes (ACPI 6.5 §20.2).
constexpr uint8_t kZeroOp = 0x00, kOneOp = 0x01, kNameOp = 0x08;
constexpr uint8_t kBytePrefix = 0x0A, kWordPrefix = 0x0B, kDWordPrefix = 0x0C;
constexpr uint8_t kStringPrefix = 0x0D, kQWordPrefix = 0x0E;
constexpr uint8_t kScopeOp = 0x10, kBufferOp = 0x11, kPackageOp = 0x12;
constexpr uint8_t kExtOpPrefix = 0x5B, kDeviceOp = 0x82;
constexpr uint8_t kRootChar = '\\', kParentChar = '^';
constexpr uint8_t kDualNamePrefix = 0x2E, kMultiNamePrefix = 0x2F;

// Resource descriptor tags (§6.4.2, §6.4.3).
constexpr uint8_t kIrqNoFlagsTag = 0x22;  // small, type 4, length 2
constexpr uint8_t kIoTag = 0x47;          // small, type 8, length 7
constexpr uint8_t kEndTag = 0x79;         // small, type 15, length 1
constexpr uint8_t kMemory32FixedTag = 0x86;
constexpr uint8_t kDWordAddressTag = 0x87;
constexpr uint8_t kWordAddressTag = 0x88;
constexpr uint8_t kQWordAddressTag = 0x8A;
// Address space resource types and flags.
constexpr uint8_t kMemoryRange = 0, kIoRange = 1, kBusRange = 2;
constexpr uint8_t kConsumer = 1 << 0, kMinFixed = 1 << 2, kMaxFixed = 1 << 3;
constexpr uint8_t kMemReadWrite = 1 << 0;  // non-cacheable
constexpr uint8_t kIoEntireRange = 3;

void put_le(Bytes& b, uint64_t v, int n) {
  for (int i = 0; i < n; ++i) b.push_back(uint8_t(v >> (8 * i)));
}

bool lead_char_ok(char c) { return (c >= 'A' && c <= 'Z') || c == '_'; }
bool name_char_ok(char c) { return lead_char_ok(c) || (c >= '0' && c <= '9'); }

void append_seg(Bytes& out, std::string_view seg, std::string_view path) {
  if (seg.empty() || seg.size() > 4 || !lead_char_ok(seg[0])) throw error("AML name '{}': bad segment '{}'", path, seg);
  for (char c : seg)
    if (!name_char_ok(c)) throw error("AML name '{}': bad character '{}'", path, c);
  for (size_t i = 0; i < 4; ++i) out.push_back(i < seg.size() ? uint8_t(seg[i]) : uint8_t('_'));
}

Bytes with_pkg(std::initializer_list<uint8_t> op, const Bytes& body) {
  Bytes out(op);
  Bytes len = pkg_length(body.size());
  out.insert(out.end(), len.begin(), len.end());
  out.insert(out.end(), body.begin(), body.end());
  return out;
}

// An address-space descriptor: Word (16-bit fields), DWord or QWord.
void address(Bytes& d, uint8_t tag, int width, uint8_t type, uint8_t gflags, uint8_t tflags, uint64_t min,
             uint64_t len) {
  if (len == 0) throw error("AML resource window at {:#x} has zero length", min);
  uint64_t max = min + len - 1;
  if (max < min || (width < 8 && max >> (8 * width) != 0))
    throw error("AML resource window {:#x}+{:#x} does not fit {} bytes", min, len, width);
  d.push_back(tag);
  put_le(d, 3 + 5 * width, 2);  // length after the 3-byte header
  d.push_back(type);
  d.push_back(gflags);
  d.push_back(tflags);
  put_le(d, 0, width);  // granularity: decoder width, 0 works for fixed windows
  put_le(d, min, width);
  put_le(d, max, width);
  put_le(d, 0, width);  // translation offset
  put_le(d, len, width);
}

}  // namespace

Bytes name_string(std::string_view path) {
  Bytes out;
  size_t i = 0;
  if (!path.empty() && path[0] == kRootChar) {
    out.push_back(kRootChar);
    i = 1;
  } else {
    while (i < path.size() && path[i] == kParentChar) {
      out.push_back(kParentChar);
      ++i;
    }
  }
  std::vector<std::string_view> segs;
  std::string_view rest = path.substr(i);
  while (!rest.empty()) {
    size_t dot = rest.find('.');
    segs.push_back(rest.substr(0, dot));
    rest = dot == std::string_view::npos ? std::string_view{} : rest.substr(dot + 1);
  }
  if (segs.size() > 255) throw error("AML name '{}' has too many segments", path);
  if (segs.empty()) {
    out.push_back(0x00);  // NullName
  } else if (segs.size() == 2) {
    out.push_back(kDualNamePrefix);
  } else if (segs.size() > 2) {
    out.push_back(kMultiNamePrefix);
    out.push_back(uint8_t(segs.size()));
  }
  for (auto s : segs) append_seg(out, s, path);
  return out;
}

Bytes pkg_length(size_t content_len) {
  // The encoded length counts its own bytes (§20.2.4).
  if (content_len + 1 < 0x40) return {uint8_t(content_len + 1)};
  for (int extra = 1; extra <= 3; ++extra) {
    size_t total = content_len + 1 + extra;
    if (total < (size_t(1) << (4 + 8 * extra))) {
      Bytes out{uint8_t((extra << 6) | (total & 0x0F))};
      put_le(out, total >> 4, extra);
      return out;
    }
  }
  throw error("AML package of {} bytes is too large", content_len);
}

Bytes integer(uint64_t v) {
  Bytes out;
  if (v == 0) return {kZeroOp};
  if (v == 1) return {kOneOp};
  if (v <= 0xFF) {
    out = {kBytePrefix};
    put_le(out, v, 1);
  } else if (v <= 0xFFFF) {
    out = {kWordPrefix};
    put_le(out, v, 2);
  } else if (v <= 0xFFFFFFFF) {
    out = {kDWordPrefix};
    put_le(out, v, 4);
  } else {
    out = {kQWordPrefix};
    put_le(out, v, 8);
  }
  return out;
}

Bytes dword(uint32_t v) {
  Bytes out{kDWordPrefix};
  put_le(out, v, 4);
  return out;
}

Bytes string(std::string_view s) {
  Bytes out{kStringPrefix};
  for (char c : s) {
    if (c == 0 || static_cast<unsigned char>(c) > 0x7F) throw error("AML string '{}' is not plain ASCII", s);
    out.push_back(uint8_t(c));
  }
  out.push_back(0);
  return out;
}

Bytes eisa_id(std::string_view id) {
  // Three letters (5 bits each, 'A' = 1) then four hex digits, stored
  // big-endian in a DWord (§6.1.5).
  auto hex = [&](char c) -> uint32_t {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    throw error("EISA ID '{}': bad hex digit '{}'", id, c);
  };
  if (id.size() != 7) throw error("EISA ID '{}' must be 7 characters", id);
  uint32_t be = 0;
  for (int i = 0; i < 3; ++i) {
    if (id[i] < 'A' || id[i] > 'Z') throw error("EISA ID '{}': bad letter '{}'", id, id[i]);
    be = (be << 5) | uint32_t(id[i] - 'A' + 1);
  }
  for (int i = 3; i < 7; ++i) be = (be << 4) | hex(id[i]);
  return dword(__builtin_bswap32(be));
}

Bytes package(const std::vector<Bytes>& elements) {
  if (elements.size() > 255) throw error("AML package of {} elements is too large", elements.size());
  Bytes body{uint8_t(elements.size())};
  for (const auto& e : elements) body.insert(body.end(), e.begin(), e.end());
  return with_pkg({kPackageOp}, body);
}

Bytes buffer(const Bytes& data) {
  Bytes body = integer(data.size());
  body.insert(body.end(), data.begin(), data.end());
  return with_pkg({kBufferOp}, body);
}

Bytes name(std::string_view path, const Bytes& value) {
  Bytes out{kNameOp};
  Bytes n = name_string(path);
  out.insert(out.end(), n.begin(), n.end());
  out.insert(out.end(), value.begin(), value.end());
  return out;
}

Bytes scope(std::string_view path, const std::vector<Bytes>& terms) {
  Bytes body = name_string(path);
  for (const auto& t : terms) body.insert(body.end(), t.begin(), t.end());
  return with_pkg({kScopeOp}, body);
}

Bytes device(std::string_view path, const std::vector<Bytes>& terms) {
  Bytes body = name_string(path);
  for (const auto& t : terms) body.insert(body.end(), t.begin(), t.end());
  return with_pkg({kExtOpPrefix, kDeviceOp}, body);
}

Bytes join(const std::vector<Bytes>& parts) {
  Bytes out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

ResourceTemplate& ResourceTemplate::io(uint16_t min, uint16_t max, uint8_t align, uint8_t len) {
  data_.push_back(kIoTag);
  data_.push_back(1);  // decodes 16 address bits
  put_le(data_, min, 2);
  put_le(data_, max, 2);
  data_.push_back(align);
  data_.push_back(len);
  return *this;
}

ResourceTemplate& ResourceTemplate::irq(uint8_t irq) {
  if (irq > 15) throw error("ISA IRQ {} out of range", irq);
  data_.push_back(kIrqNoFlagsTag);
  put_le(data_, 1u << irq, 2);
  return *this;
}

ResourceTemplate& ResourceTemplate::memory32_fixed(uint32_t base, uint32_t len) {
  data_.push_back(kMemory32FixedTag);
  put_le(data_, 9, 2);
  data_.push_back(kMemReadWrite);
  put_le(data_, base, 4);
  put_le(data_, len, 4);
  return *this;
}

ResourceTemplate& ResourceTemplate::bus_numbers(uint16_t min, uint16_t len) {
  address(data_, kWordAddressTag, 2, kBusRange, kMinFixed | kMaxFixed, 0, min, len);
  return *this;
}

ResourceTemplate& ResourceTemplate::io_window(uint16_t min, uint32_t len) {
  address(data_, kWordAddressTag, 2, kIoRange, kMinFixed | kMaxFixed, kIoEntireRange, min, len);
  return *this;
}

ResourceTemplate& ResourceTemplate::mmio32_window(uint32_t min, uint64_t len) {
  address(data_, kDWordAddressTag, 4, kMemoryRange, kMinFixed | kMaxFixed, kMemReadWrite, min, len);
  return *this;
}

ResourceTemplate& ResourceTemplate::mmio64_window(uint64_t min, uint64_t len) {
  address(data_, kQWordAddressTag, 8, kMemoryRange, kMinFixed | kMaxFixed, kMemReadWrite, min, len);
  return *this;
}

ResourceTemplate& ResourceTemplate::memory64_consumer(uint64_t min, uint64_t len) {
  address(data_, kQWordAddressTag, 8, kMemoryRange, kConsumer | kMinFixed | kMaxFixed, kMemReadWrite, min, len);
  return *this;
}

Bytes ResourceTemplate::build() const {
  Bytes d = data_;
  d.push_back(kEndTag);
  d.push_back(0);  // checksum 0: "treat as correct" (§6.4.2.9)
  return buffer(d);
}

}  // namespace insula::x86::aml
