// Byte-size parsing and formatting.
#include "base/size.h"

#include <cctype>
#include <charconv>

#include "base/error.h"

namespace insula {

uint64_t parse_size(std::string_view text, uint64_t default_unit) {
  std::string_view s = text;
  uint64_t value = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc() || ptr == s.data())
    throw error("invalid size '{}': expected a number with an optional suffix (K, M, G, T)", text);
  std::string_view suffix(ptr, s.data() + s.size() - ptr);
  uint64_t unit = default_unit;
  if (!suffix.empty()) {
    char c = static_cast<char>(std::toupper(static_cast<unsigned char>(suffix[0])));
    std::string_view rest = suffix.substr(1);
    if (!(rest.empty() || rest == "B" || rest == "b" || rest == "iB" || rest == "ib"))
      throw error("invalid size '{}': unknown suffix '{}'", text, suffix);
    switch (c) {
      case 'B': unit = 1; if (!rest.empty()) throw error("invalid size '{}'", text); break;
      case 'K': unit = 1ULL << 10; break;
      case 'M': unit = 1ULL << 20; break;
      case 'G': unit = 1ULL << 30; break;
      case 'T': unit = 1ULL << 40; break;
      case 'P': unit = 1ULL << 50; break;
      case 'E': unit = 1ULL << 60; break;
      default: throw error("invalid size '{}': unknown suffix '{}'", text, suffix);
    }
  }
  if (value != 0 && unit > UINT64_MAX / value) throw error("size '{}' is too large", text);
  return value * unit;
}

std::string format_size(uint64_t bytes) {
  static const char* const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  int u = 0;
  double v = static_cast<double>(bytes);
  while (v >= 1024 && u < 6) {
    v /= 1024;
    ++u;
  }
  if (u == 0) return fmt::format("{} B", bytes);
  if (v == static_cast<double>(static_cast<uint64_t>(v))) return fmt::format("{} {}", static_cast<uint64_t>(v), units[u]);
  return fmt::format("{:.3g} {}", v, units[u]);
}

}  // namespace insula
