// The saved-state file: one versioned, self-describing container for a
// machine's device and vCPU state, used by snapshots and (next) by live
// migration.
//
// Layout (little-endian):
//   header:  magic "INSULAST" (8) | format version u32 | section count u32 |
//            crc32 of the preceding 16 bytes u32
//   section: id length u16 | id (ASCII, e.g. "vcpu/0", "dev/serial-com1") |
//            version u32 | data length u64 | crc32 of id+version+length+data u32 |
//            data
//   trailer: magic "INSULAEN" (8)
//
// Every section carries its own version (the version of the plain state
// struct it holds), so a reader can refuse a section it does not know while
// the container format stays the same. The reader checks everything (magic,
// format version, every length against the file size, every checksum, the
// trailer) before it hands out a single section: a truncated, corrupted or
// foreign file is refused whole with a message that says which part is bad.
#pragma once

#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "base/error.h"

namespace insula {

inline constexpr uint32_t kStateFormatVersion = 1;

struct StateSection {
  std::string id;
  uint32_t version = 0;
  std::vector<uint8_t> data;
};

// For state structs that hold variable-length parts (vectors): fields go
// out one by one in a fixed order, and come back through a bounds-checked
// decoder that throws Error on a short or overlong section.
class StateEncoder {
 public:
  template <typename T>
  void put(const T& v) {
    static_assert(std::is_trivially_copyable_v<T>);
    auto* p = reinterpret_cast<const uint8_t*>(&v);
    bytes_.insert(bytes_.end(), p, p + sizeof v);
  }
  template <typename T>
  void put_vector(const std::vector<T>& v) {
    put<uint64_t>(v.size());
    for (const auto& e : v) put(e);
  }
  const std::vector<uint8_t>& bytes() const { return bytes_; }

 private:
  std::vector<uint8_t> bytes_;
};

class StateDecoder {
 public:
  StateDecoder(std::span<const uint8_t> bytes, std::string what) : bytes_(bytes), what_(std::move(what)) {}
  template <typename T>
  T get() {
    static_assert(std::is_trivially_copyable_v<T>);
    if (sizeof(T) > bytes_.size() - pos_) throw error("{}: the saved state is shorter than its format says", what_);
    T v;
    std::memcpy(&v, bytes_.data() + pos_, sizeof v);
    pos_ += sizeof v;
    return v;
  }
  template <typename T>
  std::vector<T> get_vector() {
    auto n = get<uint64_t>();
    if (n > (bytes_.size() - pos_) / sizeof(T)) throw error("{}: a saved array claims {} entries, more than the data holds", what_, n);
    std::vector<T> v;
    v.reserve(n);
    for (uint64_t i = 0; i < n; ++i) v.push_back(get<T>());
    return v;
  }
  // Throws unless every byte was consumed.
  void finish() const {
    if (pos_ != bytes_.size()) throw error("{}: {} unexpected bytes at the end of the saved state", what_, bytes_.size() - pos_);
  }

 private:
  std::span<const uint8_t> bytes_;
  std::string what_;
  size_t pos_ = 0;
};

class StateWriter {
 public:
  void add(std::string id, uint32_t version, std::span<const uint8_t> data);
  // A plain state struct with a kVersion: stored byte for byte.
  template <typename T>
  void add_struct(std::string id, const T& s) {
    static_assert(std::is_trivially_copyable_v<T>);
    add(std::move(id), T::kVersion, {reinterpret_cast<const uint8_t*>(&s), sizeof s});
  }
  std::vector<uint8_t> serialize() const;
  // Writes to path.tmp, fsyncs, renames over path: a reader never sees a
  // partial file under path.
  void write_file(const std::string& path) const;

 private:
  std::vector<StateSection> sections_;
};

class StateReader {
 public:
  // Checks the whole image; throws Error naming what is wrong and where
  // (`what` names the source in messages, e.g. the file path).
  static StateReader parse(std::span<const uint8_t> bytes, const std::string& what);
  static StateReader read_file(const std::string& path);

  const std::vector<StateSection>& sections() const { return sections_; }
  bool has(const std::string& id) const { return find(id) != nullptr; }
  const StateSection* find(const std::string& id) const;
  // The section with this id at exactly this version; throws otherwise.
  const StateSection& get(const std::string& id, uint32_t version) const;

  template <typename T>
  T get_struct(const std::string& id) const {
    static_assert(std::is_trivially_copyable_v<T>);
    const StateSection& s = get(id, T::kVersion);
    if (s.data.size() != sizeof(T))
      throw error("{}: section '{}' holds {} bytes, expected {}: the file is not from this insula build's format",
                  what_, id, s.data.size(), sizeof(T));
    T out;
    std::memcpy(&out, s.data.data(), sizeof out);
    return out;
  }
  // A section holding an array of plain entries.
  template <typename T>
  std::vector<T> get_array(const std::string& id, uint32_t version) const {
    static_assert(std::is_trivially_copyable_v<T>);
    const StateSection& s = get(id, version);
    if (s.data.size() % sizeof(T))
      throw error("{}: section '{}' is {} bytes, not a whole number of {}-byte entries", what_, id, s.data.size(),
                  sizeof(T));
    std::vector<T> out(s.data.size() / sizeof(T));
    if (!out.empty()) std::memcpy(out.data(), s.data.data(), s.data.size());
    return out;
  }
  const std::string& what() const { return what_; }

 private:
  std::string what_;
  std::vector<StateSection> sections_;
};

}  // namespace insula
