// The saved-state file format: see state_file.h.
#include "base/state_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "base/fd.h"

namespace insula {

namespace {

constexpr char kMagic[8] = {'I', 'N', 'S', 'U', 'L', 'A', 'S', 'T'};
constexpr char kTrailer[8] = {'I', 'N', 'S', 'U', 'L', 'A', 'E', 'N'};
constexpr size_t kHeaderSize = 20;
constexpr size_t kMaxIdLength = 256;

uint32_t crc(uint32_t c, const void* p, size_t n) {
  // zlib's crc32 takes uInt lengths: feed large sections in pieces.
  auto* b = static_cast<const Bytef*>(p);
  while (n) {
    uInt chunk = static_cast<uInt>(std::min<size_t>(n, 1u << 30));
    c = static_cast<uint32_t>(::crc32(c, b, chunk));
    b += chunk;
    n -= chunk;
  }
  return c;
}

template <typename T>
void put(std::vector<uint8_t>& out, T v) {
  uint8_t b[sizeof v];
  std::memcpy(b, &v, sizeof v);
  out.insert(out.end(), b, b + sizeof v);
}

// Bounds-checked cursor over the file image.
class Cursor {
 public:
  Cursor(std::span<const uint8_t> b, const std::string& what) : b_(b), what_(what) {}
  size_t pos() const { return pos_; }
  std::span<const uint8_t> take(size_t n, const char* part) {
    if (n > b_.size() - pos_)
      throw error("{}: the file is truncated or corrupt ({} bytes; {} needs {} more at offset {}): it was not "
                  "completely written, or was damaged",
                  what_, b_.size(), part, n - (b_.size() - pos_), pos_);
    auto s = b_.subspan(pos_, n);
    pos_ += n;
    return s;
  }
  template <typename T>
  T get(const char* part) {
    T v;
    std::memcpy(&v, take(sizeof v, part).data(), sizeof v);
    return v;
  }

 private:
  std::span<const uint8_t> b_;
  const std::string& what_;
  size_t pos_ = 0;
};

}  // namespace

void StateWriter::add(std::string id, uint32_t version, std::span<const uint8_t> data) {
  if (id.empty() || id.size() > kMaxIdLength) throw error("state section id '{}' is empty or too long", id);
  for (const auto& s : sections_)
    if (s.id == id) throw error("state section '{}' was added twice", id);
  sections_.push_back({std::move(id), version, {data.begin(), data.end()}});
}

std::vector<uint8_t> StateWriter::serialize() const {
  std::vector<uint8_t> out(kMagic, kMagic + sizeof kMagic);
  put<uint32_t>(out, kStateFormatVersion);
  put<uint32_t>(out, static_cast<uint32_t>(sections_.size()));
  put<uint32_t>(out, crc(0, out.data(), out.size()));
  for (const auto& s : sections_) {
    size_t start = out.size();
    put<uint16_t>(out, static_cast<uint16_t>(s.id.size()));
    out.insert(out.end(), s.id.begin(), s.id.end());
    put<uint32_t>(out, s.version);
    put<uint64_t>(out, s.data.size());
    uint32_t c = crc(0, out.data() + start, out.size() - start);
    c = crc(c, s.data.data(), s.data.size());
    put<uint32_t>(out, c);
    out.insert(out.end(), s.data.begin(), s.data.end());
  }
  out.insert(out.end(), kTrailer, kTrailer + sizeof kTrailer);
  return out;
}

void StateWriter::write_file(const std::string& path) const {
  std::vector<uint8_t> bytes = serialize();
  std::string tmp = path + ".tmp";
  UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  if (!fd) throw errno_error(fmt::format("creating state file {}", tmp));
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::write(fd.get(), bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int err = errno;
      ::unlink(tmp.c_str());
      throw system_error(err, fmt::format("writing state file {}", tmp));
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd.get()) != 0) throw errno_error(fmt::format("syncing state file {}", tmp));
  fd.reset();
  if (::rename(tmp.c_str(), path.c_str()) != 0) throw errno_error(fmt::format("renaming {} to {}", tmp, path));
}

StateReader StateReader::parse(std::span<const uint8_t> bytes, const std::string& what) {
  StateReader r;
  r.what_ = what;
  Cursor c(bytes, r.what_);
  auto magic = c.take(sizeof kMagic, "the header");
  if (std::memcmp(magic.data(), kMagic, sizeof kMagic) != 0)
    throw error("{}: not an insula state file (bad magic): give the snapshot's state file, not its memory file", what);
  uint32_t format = c.get<uint32_t>("the header");
  uint32_t count = c.get<uint32_t>("the header");
  uint32_t header_crc = c.get<uint32_t>("the header");
  if (crc(0, bytes.data(), kHeaderSize - 4) != header_crc) throw error("{}: the header is corrupt (checksum mismatch)", what);
  if (format != kStateFormatVersion)
    throw error("{}: state format version {} is not supported by this insula (it reads version {}): use the insula "
                "that wrote it",
                what, format, kStateFormatVersion);
  for (uint32_t i = 0; i < count; ++i) {
    size_t start = c.pos();
    auto id_len = c.get<uint16_t>("a section header");
    if (id_len == 0 || id_len > kMaxIdLength)
      throw error("{}: section {} at offset {} has a bad id length {}: the file is corrupt", what, i, start, id_len);
    auto id_bytes = c.take(id_len, "a section id");
    StateSection s;
    s.id.assign(id_bytes.begin(), id_bytes.end());
    s.version = c.get<uint32_t>("a section header");
    auto len = c.get<uint64_t>("a section header");
    size_t head_end = c.pos();
    auto stored = c.get<uint32_t>("a section header");
    auto data = c.take(len, fmt::format("section '{}'", s.id).c_str());
    uint32_t actual = crc(crc(0, bytes.data() + start, head_end - start), data.data(), data.size());
    if (actual != stored)
      throw error("{}: section '{}' is corrupt (checksum mismatch at offset {}): the file was damaged", what, s.id, start);
    for (const auto& other : r.sections_)
      if (other.id == s.id) throw error("{}: section '{}' appears twice: the file is corrupt", what, s.id);
    s.data.assign(data.begin(), data.end());
    r.sections_.push_back(std::move(s));
  }
  auto trailer = c.take(sizeof kTrailer, "the trailer");
  if (std::memcmp(trailer.data(), kTrailer, sizeof kTrailer) != 0)
    throw error("{}: the trailer is missing or corrupt at offset {}", what, c.pos() - sizeof kTrailer);
  if (c.pos() != bytes.size())
    throw error("{}: {} unexpected bytes after the trailer: the file is corrupt", what, bytes.size() - c.pos());
  return r;
}

StateReader StateReader::read_file(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) throw errno_error(fmt::format("opening state file {}", path));
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) throw errno_error(fmt::format("stat {}", path));
  std::vector<uint8_t> bytes(static_cast<size_t>(st.st_size));
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::read(fd.get(), bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw errno_error(fmt::format("reading state file {}", path));
    if (n == 0) break;
    done += static_cast<size_t>(n);
  }
  bytes.resize(done);
  return parse(bytes, path);
}

const StateSection* StateReader::find(const std::string& id) const {
  for (const auto& s : sections_)
    if (s.id == id) return &s;
  return nullptr;
}

const StateSection& StateReader::get(const std::string& id, uint32_t version) const {
  const StateSection* s = find(id);
  if (!s) throw error("{}: has no '{}' state: the snapshot is incomplete", what_, id);
  if (s->version != version)
    throw error("{}: '{}' state is version {}, this insula restores version {}: use the insula that wrote it", what_,
                id, s->version, version);
  return *s;
}

}  // namespace insula
