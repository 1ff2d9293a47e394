// The qcow2 driver: cluster mapping through L1/L2 tables, reads (plain,
// zero, compressed, backing), L2 tables for writing, zeroing and discard.
// Writes themselves are in qcow2_alloc.cc.
#include "block/qcow2.h"

#include <algorithm>
#include <cstring>
#include <stdexcept>

#include "base/error.h"
#include "base/log.h"
#include "block/qcow2_compress.h"

namespace insula::block {

using namespace qcow2;

namespace {
constexpr size_t kL2CacheBytes = 16 << 20;
}

Qcow2Image::Qcow2Image(ImageFile file, Header header, bool read_only, std::unique_ptr<BlockDevice> backing)
    : file_(std::move(file)),
      h_(std::move(header)),
      read_only_(read_only),
      backing_(std::move(backing)),
      cs_(h_.cluster_size()),
      l2_entries_(h_.cluster_size() / 8) {
  backing_size_ = backing_ ? backing_->size() : 0;
  file_end_ = file_.size();
  trusted_end_ = file_end_;
  std::vector<uint8_t> raw(uint64_t{h_.l1_size} * 8);
  file_.read(h_.l1_table_offset, raw);
  l1_.resize(h_.l1_size);
  for (size_t i = 0; i < l1_.size(); ++i) l1_[i] = be64(&raw[i * 8]);
}

void Qcow2Image::corrupt(const std::string& what) const {
  throw error("'{}' is corrupt: {}; run `insula img check` on it", file_.path(), what);
}

void Qcow2Image::check_range(uint64_t offset, uint64_t length) const {
  if (offset > h_.size || length > h_.size - offset)
    throw error("request at {} of {} bytes is beyond the end of '{}' ({} bytes)", offset, length, file_.path(), h_.size);
}

void Qcow2Image::check_writable() const {
  if (read_only_) throw error("cannot write to '{}': opened read-only", file_.path());
}

void Qcow2Image::check_host_range(uint64_t host, uint64_t length) const {
  // Guest data must never land on metadata: a hostile or corrupt L2 entry
  // could otherwise make a guest write overwrite the header or tables.
  auto overlaps = [&](uint64_t a, uint64_t alen) { return host < a + alen && a < host + length; };
  if (host < cs_ || overlaps(h_.l1_table_offset, uint64_t{h_.l1_size} * 8) ||
      (refcounts_ && overlaps(refcounts_->table_offset(), refcounts_->table_clusters() * cs_)) ||
      (!refcounts_ && overlaps(h_.refcount_table_offset, uint64_t{h_.refcount_table_clusters} * cs_)))
    corrupt(fmt::format("data cluster at {:#x} overlaps metadata", host));
}

Refcounts& Qcow2Image::refcounts() {
  if (!refcounts_) refcounts_.emplace(file_, h_);
  return *refcounts_;
}

std::shared_ptr<Qcow2Image::L2Table> Qcow2Image::load_l2(uint64_t l2_offset) {
  auto it = l2_cache_.find(l2_offset);
  if (it != l2_cache_.end()) return it->second;
  if (l2_offset % cs_ || l2_offset < cs_ || l2_offset >= file_end_)
    corrupt(fmt::format("L2 table offset {:#x} is invalid", l2_offset));
  // A writable image's tables not written by this process: see trusted_end_.
  bool check = !read_only_ && !written_l2_.contains(l2_offset);
  if (check && (l2_offset >= trusted_end_ || !in_use_before(refcounts(), l2_offset)))
    corrupt(fmt::format("L2 table offset {:#x} is beyond the end of the file or a free cluster", l2_offset));
  std::vector<uint8_t> raw(cs_);
  file_.read(l2_offset, raw);
  auto t = std::make_shared<L2Table>(l2_entries_);
  for (uint64_t i = 0; i < l2_entries_; ++i) (*t)[i] = be64(&raw[i * 8]);
  if (check) check_loaded_l2(l2_offset, *t);
  if (l2_cache_.size() * cs_ >= kL2CacheBytes) {
    auto victim = l2_cache_.begin();
    write_held_back(victim->first, *victim->second);
    l2_cache_.erase(victim);
  }
  return l2_cache_.emplace(l2_offset, t).first->second;
}

bool Qcow2Image::in_use_before(Refcounts& rc, uint64_t host) const {
  uint64_t c = host >> h_.cluster_bits;
  return rc.get(c) != 0 && !rc.handed_out(c);
}

void Qcow2Image::check_loaded_l2(uint64_t l2_offset, const L2Table& t) {
  Refcounts& rc = refcounts();
  for (uint64_t i = 0; i < t.size(); ++i) {
    uint64_t e = t[i], host = e & kOffsetMask, length = 0;
    if (e & kCompressed) compressed_range(e, host, length);  // read only, never written in place
    if (!host) continue;
    if (host >= trusted_end_)
      corrupt(fmt::format("L2 table at {:#x}, entry {} ({:#x}) points beyond the end of the file", l2_offset, i, e));
    if (!(e & kCompressed) && !in_use_before(rc, host))
      corrupt(fmt::format("L2 table at {:#x}, entry {} ({:#x}) points at a free cluster", l2_offset, i, e));
  }
}

void Qcow2Image::hold_back_l2(uint64_t l2_offset, uint64_t first, uint64_t count) {
  auto [it, fresh] = l2_dirty_.try_emplace(l2_offset, first, first + count);
  if (!fresh) {
    it->second.first = std::min(it->second.first, first);
    it->second.second = std::max(it->second.second, first + count);
  }
}

void Qcow2Image::write_held_back(uint64_t l2_offset, const L2Table& t) {
  auto d = l2_dirty_.find(l2_offset);
  if (d == l2_dirty_.end()) return;
  write_l2_entries(l2_offset, t, d->second.first, d->second.second - d->second.first);
  l2_dirty_.erase(d);  // after the write: a failed one stays held back
}

void Qcow2Image::write_back_l2() {
  while (!l2_dirty_.empty()) {
    uint64_t offset = l2_dirty_.begin()->first;
    auto t = l2_cache_.find(offset);
    if (t == l2_cache_.end()) throw std::logic_error("qcow2: held-back L2 entries of a table no longer cached");
    write_held_back(offset, *t->second);
  }
}

std::unique_lock<std::shared_mutex> Qcow2Image::exclusive() {
  std::unique_lock<std::shared_mutex> lk(lock_);
  write_back_l2();
  return lk;
}

Qcow2Image::~Qcow2Image() {
  try {
    write_back_l2();
  } catch (const std::exception& e) {
    INSULA_LOG_WARN("qcow2 '{}': L2 entries not written at close: {}", file_.path(), e.what());
  }
}

void Qcow2Image::compressed_range(uint64_t entry, uint64_t& host, uint64_t& length) const {
  uint32_t x = 62 - (h_.cluster_bits - 8);
  host = entry & ((1ULL << x) - 1);
  uint64_t sectors = ((entry >> x) & ((1ULL << (h_.cluster_bits - 8)) - 1)) + 1;
  length = sectors * 512 - (host & 511);
}

Qcow2Image::Mapping Qcow2Image::map(uint64_t offset, uint64_t max_length) {
  uint64_t in_cluster = offset & (cs_ - 1);
  uint64_t cluster = offset >> h_.cluster_bits;
  uint64_t l1_index = cluster / l2_entries_;
  uint64_t l2_index = cluster % l2_entries_;
  // Never past the end of this L2 table's range nor the request.
  uint64_t table_left = (l2_entries_ - l2_index) * cs_ - in_cluster;
  uint64_t limit = std::min(max_length, table_left);
  if (l1_index >= l1_.size()) return {Kind::kUnallocated, limit};
  uint64_t l1e = l1_[l1_index];
  if (l1e & kL1Reserved) corrupt(fmt::format("L1 entry {} ({:#x}) has reserved bits set", l1_index, l1e));
  uint64_t l2_offset = l1e & kOffsetMask;
  if (!l2_offset) return {Kind::kUnallocated, limit};
  auto table = load_l2(l2_offset);
  const L2Table& t = *table;

  auto classify = [&](uint64_t e) {
    if (e & kCompressed) return Kind::kCompressed;
    if (e & kL2Reserved) corrupt(fmt::format("L2 entry {:#x} has reserved bits set", e));
    if (h_.version >= 3 && (e & kZeroFlag)) return Kind::kZero;
    if ((e & kOffsetMask) == 0) return Kind::kUnallocated;
    return Kind::kData;
  };
  uint64_t e0 = t[l2_index];
  Mapping m{classify(e0), 0, 0, e0};
  if (m.kind == Kind::kData) {
    uint64_t host = e0 & kOffsetMask;
    if (host & (cs_ - 1)) corrupt(fmt::format("data cluster offset {:#x} is not cluster aligned", host));
    if (host >= file_end_) corrupt(fmt::format("data cluster offset {:#x} is beyond the end of the file", host));
    m.host = host + in_cluster;
    m.owned = (l1e & kCopied) && (e0 & kCopied);
  }
  if (m.kind == Kind::kZero && (e0 & kOffsetMask)) {
    // A zero cluster that keeps its allocation: map shows where (qemu-img).
    m.host = (e0 & kOffsetMask) + in_cluster;
  }
  if (m.kind == Kind::kCompressed) {
    m.length = std::min(limit, cs_ - in_cluster);
    return m;
  }
  // Extend over following clusters of the same kind (and, for data,
  // contiguous on the host with the same ownership).
  uint64_t len = cs_ - in_cluster;
  for (uint64_t i = l2_index + 1; i < l2_entries_ && len < limit; ++i) {
    uint64_t e = t[i];
    if (classify(e) != m.kind) break;
    if (m.kind == Kind::kData) {
      if ((e & kOffsetMask) != (e0 & kOffsetMask) + (i - l2_index) * cs_) break;
      if (((l1e & kCopied) && (e & kCopied)) != m.owned) break;
      if ((e & kOffsetMask) >= file_end_) break;
    }
    if (m.kind == Kind::kZero && (e0 & kOffsetMask) ? (e & kOffsetMask) != (e0 & kOffsetMask) + (i - l2_index) * cs_
                                                    : (m.kind == Kind::kZero && (e & kOffsetMask)))
      break;
    len += cs_;
  }
  m.length = std::min(len, limit);
  return m;
}

void Qcow2Image::read_backing(uint64_t offset, std::span<uint8_t> out) {
  uint64_t n = 0;
  if (backing_ && offset < backing_size_) {
    n = std::min<uint64_t>(out.size(), backing_size_ - offset);
    backing_->read(offset, out.first(n));
  }
  std::memset(out.data() + n, 0, out.size() - n);  // past a shorter backing file: zeros
}

void Qcow2Image::read_compressed(uint64_t entry, std::span<uint8_t> cluster) {
  uint64_t host, length;
  compressed_range(entry, host, length);
  if (host < cs_ || host >= file_end_) corrupt(fmt::format("compressed cluster at {:#x} is outside the file", host));
  std::vector<uint8_t> in(length);
  file_.read(host, in);
  if (!decompress_cluster(h_.compression_type, in, cluster))
    corrupt(fmt::format("compressed cluster at {:#x} does not decompress", host));
}

void Qcow2Image::read_mapped(const Mapping& m, uint64_t offset, std::span<uint8_t> out) {
  switch (m.kind) {
    case Kind::kUnallocated: read_backing(offset, out); break;
    case Kind::kZero: std::memset(out.data(), 0, out.size()); break;
    case Kind::kData: file_.read(m.host, out); break;
    case Kind::kCompressed: {
      std::vector<uint8_t> cluster(cs_);
      read_compressed(m.entry, cluster);
      std::memcpy(out.data(), cluster.data() + (offset & (cs_ - 1)), out.size());
      break;
    }
  }
}

void Qcow2Image::read(uint64_t offset, std::span<uint8_t> buf) {
  std::shared_lock lk(lock_);
  check_range(offset, buf.size());  // under the lock: applying a snapshot changes the size
  for (uint64_t pos = 0; pos < buf.size();) {
    Mapping m;
    {
      std::lock_guard g(meta_lock_);
      m = map(offset + pos, buf.size() - pos);
    }
    read_mapped(m, offset + pos, buf.subspan(pos, m.length));
    pos += m.length;
  }
}

void Qcow2Image::write_l2_entries(uint64_t l2_offset, const L2Table& t, uint64_t first, uint64_t count) {
  std::vector<uint8_t> raw(count * 8);
  for (uint64_t i = 0; i < count; ++i) put64(&raw[i * 8], t[first + i]);
  file_.write(l2_offset + first * 8, raw);
  written_l2_.insert(l2_offset);
}

Qcow2Image::L2Table& Qcow2Image::l2_for_write(uint64_t l1_index, uint64_t& l2_offset) {
  if (l1_index >= l1_.size()) corrupt("write beyond the L1 table");
  uint64_t l1e = l1_[l1_index];
  if (l1e & kL1Reserved) corrupt(fmt::format("L1 entry {} ({:#x}) has reserved bits set", l1_index, l1e));
  uint64_t old = l1e & kOffsetMask;
  if (old && (l1e & kCopied)) {
    l2_offset = old;
    return *load_l2(old);
  }
  // A new table, or a private copy of one shared with a snapshot.
  auto t = old ? std::make_shared<L2Table>(*load_l2(old)) : std::make_shared<L2Table>(l2_entries_, 0);
  // Every cluster of a shared table is shared too (the copy adds a reference
  // path): whatever COPIED flags the old table carries, the copy has none.
  if (old)
    for (uint64_t& e : *t) e &= ~kCopied;
  uint64_t at = refcounts().allocate(1);
  file_end_ = std::max<uint64_t>(file_end_, at + cs_);
  write_l2_entries(at, *t, 0, l2_entries_);
  uint8_t e[8];
  put64(e, at | kCopied);
  file_.write(h_.l1_table_offset + l1_index * 8, e);
  l1_[l1_index] = at | kCopied;
  if (old) refcounts().release_bytes(old, cs_);
  if (old) {
    // Its held-back entries are in the copy, written whole above.
    l2_dirty_.erase(old);
    l2_cache_.erase(old);
  }
  l2_cache_[at] = t;
  l2_offset = at;
  return *t;
}

void Qcow2Image::old_cluster_content(uint64_t entry, uint64_t cluster_vaddr, std::span<uint8_t> out) {
  Mapping m{};
  m.entry = entry;
  if (entry & kCompressed) m.kind = Kind::kCompressed;
  else if (h_.version >= 3 && (entry & kZeroFlag)) m.kind = Kind::kZero;
  else if (!(entry & kOffsetMask)) m.kind = Kind::kUnallocated;
  else {
    m.kind = Kind::kData;
    m.host = entry & kOffsetMask;
  }
  if (m.kind == Kind::kCompressed) {
    read_compressed(entry, out);
    return;
  }
  read_mapped(m, cluster_vaddr, out);
}

void Qcow2Image::release_entry(uint64_t e) {
  if (e & kCompressed) {
    uint64_t host, length;
    compressed_range(e, host, length);
    refcounts().release_bytes(host, length);
  } else if (e & kOffsetMask) {
    refcounts().release_bytes(e & kOffsetMask, cs_);
  }
}

void Qcow2Image::write_compressed(uint64_t offset, std::span<const uint8_t> data) {
  check_writable();
  if (offset % cs_ || data.size() > cs_ || offset + data.size() > h_.size ||
      (data.size() < cs_ && offset + data.size() != h_.size))
    throw error("compressed write to '{}' must cover one whole cluster", file_.path());
  std::vector<uint8_t> cluster(cs_, 0);
  std::memcpy(cluster.data(), data.data(), data.size());
  auto packed = compress_cluster(h_.compression_type, cluster);
  auto lk = exclusive();
  if (!packed) {
    write_locked(offset, data);
    return;
  }
  uint64_t cluster_index = offset >> h_.cluster_bits;
  uint64_t l2_offset = 0;
  L2Table& t = l2_for_write(cluster_index / l2_entries_, l2_offset);
  uint64_t i = cluster_index % l2_entries_;
  // Compressed data gets whole clusters of its own (simpler than packing
  // several into one; the file stays sparse after the data).
  uint64_t nclusters = (packed->size() + cs_ - 1) / cs_;
  uint64_t host = refcounts().allocate(nclusters);
  check_host_range(host, nclusters * cs_);
  file_end_ = std::max<uint64_t>(file_end_, host + nclusters * cs_);
  file_.write(host, *packed);
  uint64_t sectors = (packed->size() + 511) / 512;
  uint32_t x = 62 - (h_.cluster_bits - 8);
  uint64_t old = t[i];
  t[i] = kCompressed | ((sectors - 1) << x) | host;
  write_l2_entries(l2_offset, t, i, 1);
  release_entry(old);
}

void Qcow2Image::set_entries(uint64_t offset, uint64_t length, uint64_t want) {
  // offset and length are cluster aligned (length may end at the disk end).
  uint64_t end = offset + length;
  for (uint64_t pos = offset; pos < end;) {
    uint64_t cluster = pos >> h_.cluster_bits;
    uint64_t l1_index = cluster / l2_entries_;
    uint64_t first = cluster % l2_entries_;
    uint64_t count = std::min(l2_entries_ - first, (end - pos + cs_ - 1) / cs_);
    uint64_t next = pos + count * cs_;
    bool l1_empty = l1_index >= l1_.size() || !(l1_[l1_index] & kOffsetMask);
    if (l1_empty && want == 0) {
      pos = next;
      continue;
    }
    uint64_t l2_offset = 0;
    L2Table& t = l2_for_write(l1_index, l2_offset);
    std::vector<uint64_t> old;
    for (uint64_t j = first; j < first + count; ++j) old.push_back(t[j]);
    for (uint64_t j = first; j < first + count; ++j) t[j] = want;
    write_l2_entries(l2_offset, t, first, count);
    for (uint64_t e : old) release_entry(e);
    pos = next;
  }
}

void Qcow2Image::write_zeroes(uint64_t offset, uint64_t length, bool /*may_unmap*/) {
  check_writable();
  auto lk = exclusive();
  check_range(offset, length);
  uint64_t end = offset + length;
  uint64_t a = (offset + cs_ - 1) & ~(cs_ - 1);
  uint64_t b = end == h_.size ? end : end & ~(cs_ - 1);
  // v2 images with a backing file cannot express zeros in metadata.
  bool metadata_zero = h_.version >= 3 || !backing_;
  if (!metadata_zero || a >= b) {
    a = b = end;
  }
  std::vector<uint8_t> zeros;
  auto write_zero_bytes = [&](uint64_t from, uint64_t to) {
    for (uint64_t p = from; p < to;) {
      uint64_t n = std::min<uint64_t>(to - p, 1 << 20);
      if (zeros.size() < n) zeros.assign(n, 0);
      write_locked(p, std::span<const uint8_t>(zeros.data(), n));
      p += n;
    }
  };
  if (a == b) {
    write_zero_bytes(offset, end);
    return;
  }
  write_zero_bytes(offset, a);
  set_entries(a, b - a, zero_entry());
  write_zero_bytes(b, end);
}

void Qcow2Image::discard(uint64_t offset, uint64_t length) {
  check_writable();
  auto lk = exclusive();
  check_range(offset, length);
  if (h_.version < 3 && backing_) return;  // cannot hide backing data in v2: discard is only a hint
  uint64_t end = offset + length;
  uint64_t a = (offset + cs_ - 1) & ~(cs_ - 1);
  uint64_t b = end == h_.size ? end : end & ~(cs_ - 1);
  if (a < b) set_entries(a, b - a, zero_entry());
}

uint64_t Qcow2Image::zero_entry() const {
  // Without a backing file an unallocated cluster reads as zeros; with one
  // (v3 only) the zero flag hides the backing data.
  return backing_ ? kZeroFlag : 0;
}

void Qcow2Image::flush() {
  if (read_only_) return;
  {
    std::shared_lock lk(lock_);
    std::lock_guard g(meta_lock_);
    write_back_l2();
  }
  file_.sync();
}

Extent Qcow2Image::block_status(uint64_t offset, uint64_t max_length) {
  Mapping m;
  {
    std::shared_lock lk(lock_);
    check_range(offset, max_length ? 1 : 0);
    max_length = std::min(max_length, h_.size - offset);
    std::lock_guard g(meta_lock_);
    m = map(offset, max_length);
  }
  Extent e;
  e.offset = offset;
  e.length = m.length;
  switch (m.kind) {
    case Kind::kData:
      e.kind = Extent::Kind::kData;
      e.file_offset = static_cast<int64_t>(m.host);
      break;
    case Kind::kCompressed: e.kind = Extent::Kind::kData; break;
    case Kind::kZero:
      e.kind = Extent::Kind::kZero;
      if (m.host) e.file_offset = static_cast<int64_t>(m.host);
      break;
    case Kind::kUnallocated:
      e.kind = Extent::Kind::kUnallocated;
      if (backing_ && offset < backing_size_) {
        Extent b = backing_->block_status(offset, std::min(m.length, backing_size_ - offset));
        b.depth += 1;
        return b;
      }
      if (backing_) e.kind = Extent::Kind::kZero;  // past a shorter backing file
      break;
  }
  return e;
}

}  // namespace insula::block
