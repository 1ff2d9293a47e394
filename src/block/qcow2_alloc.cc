// The qcow2 write path (locking: see qcow2.h): in-place overwrites of owned
// clusters, and allocating writes in three steps (plan and commit under
// meta_lock_, the data in between with no lock but the shared one) so that
// the data of writes into different new clusters reaches the file in
// parallel with each other and with every other read and write.
//
// Write ordering on allocation (crash safety, see qcow2_refcount.h): the
// refcount is raised first (plan), then the data is written (alloc_io), then
// the L2 entry (commit); a new L2 table is written, and linked from L1, before
// any entry in it is set (plan); freed clusters lose their reference only
// after the entry that pointed at them is rewritten. A crash therefore leaks
// clusters at worst.
#include <algorithm>

#include "base/error.h"
#include "block/qcow2.h"

namespace insula::block {

using namespace qcow2;

namespace {
// How far a write that grows the file zeroes ahead of itself: at most this
// much of the file is zeroed but unused. bench write fresh qcow2 cache=none
// (bench/img/RESULTS.md): none 2.33-2.43 s, 1 MiB 2.19-2.39, 4 MiB 2.19-2.21,
// 16 MiB 2.14-2.33, 64 MiB 2.10-2.21.
constexpr uint64_t kZeroAheadBytes = 4 << 20;
}  // namespace

void Qcow2Image::Pending::wait() {
  std::unique_lock l(m);
  cv.wait(l, [&] { return done; });
}

void Qcow2Image::Pending::finish() {
  {
    std::lock_guard l(m);
    done = true;
  }
  cv.notify_all();
}

std::shared_ptr<Qcow2Image::Pending> Qcow2Image::pending_at(uint64_t cluster) const {
  for (const auto& p : pending_)
    if (cluster >= p->first_cluster && cluster - p->first_cluster < p->count) return p;
  return nullptr;
}

void Qcow2Image::end_pending(const std::shared_ptr<Pending>& p) {
  std::erase(pending_, p);
  p->finish();
}

uint64_t Qcow2Image::write_owned(uint64_t pos, uint64_t end, uint64_t data_at, std::span<const uint8_t> data) {
  while (pos < end) {
    Mapping m;
    {
      std::lock_guard g(meta_lock_);
      m = map(pos, end - pos);
      if (m.kind != Kind::kData || !m.owned) break;
      check_host_range(m.host, m.length);
    }
    file_.write(m.host, data.subspan(pos - data_at, m.length));
    pos += m.length;
  }
  return pos;
}

void Qcow2Image::write(uint64_t offset, std::span<const uint8_t> buf) {
  check_writable();
  const uint64_t end = offset + buf.size();
  uint64_t pos = offset;
  std::shared_lock lk(lock_);
  check_range(offset, buf.size());  // under the lock: applying a snapshot changes the size
  while (pos < end) {
    pos = write_owned(pos, end, offset, buf);
    if (pos == end) return;
    std::shared_ptr<Pending> busy, mine;
    AllocRun r;
    {
      std::lock_guard g(meta_lock_);
      busy = pending_at(pos >> h_.cluster_bits);
      if (!busy) {
        r = plan_alloc(pos, end, true);
        if (r.count) pending_.push_back(mine = std::make_shared<Pending>(pos >> h_.cluster_bits, r.count));
      }
    }
    if (busy) {  // another write is giving this cluster its space
      lk.unlock();
      busy->wait();
      lk.lock();
      check_range(offset, buf.size());
      continue;
    }
    if (r.needs_exclusive) {
      lk.unlock();
      auto x = exclusive();
      check_range(offset, buf.size());
      write_locked(pos, buf.subspan(pos - offset));
      return;
    }
    if (!mine) continue;  // allocated meanwhile: overwrite it in place
    try {
      alloc_io(r, buf.subspan(r.from - offset, r.to - r.from));
    } catch (...) {
      std::lock_guard g(meta_lock_);
      try {
        refcounts().release_bytes(r.host, r.count * cs_);
      } catch (...) {  // the new space leaks (check -r leaks frees it)
      }
      end_pending(mine);
      throw;
    }
    std::lock_guard g(meta_lock_);
    try {
      commit_alloc(r);
    } catch (...) {
      end_pending(mine);
      throw;
    }
    end_pending(mine);
    pos = r.to;
  }
}

void Qcow2Image::write_locked(uint64_t offset, std::span<const uint8_t> buf) {
  const uint64_t end = offset + buf.size();
  uint64_t pos = offset;
  while (pos < end) {
    pos = write_owned(pos, end, offset, buf);
    if (pos == end) break;
    AllocRun r = plan_alloc(pos, end, false);
    if (r.count == 0) corrupt(fmt::format("cluster at guest offset {} is both owned and not", pos));
    alloc_io(r, buf.subspan(r.from - offset, r.to - r.from));
    commit_alloc(r);
    pos = r.to;
  }
}

bool Qcow2Image::zeros_before(uint64_t e, uint64_t cluster_vaddr) const {
  if (e & kCompressed) return false;
  if (h_.version >= 3 && (e & kZeroFlag)) return true;
  return !(e & kOffsetMask) && (!backing_ || cluster_vaddr >= backing_size_);
}

Qcow2Image::AllocRun Qcow2Image::plan_alloc(uint64_t pos, uint64_t end, bool fresh_only) {
  auto owned = [&](uint64_t e) {
    return !(e & kCompressed) && !(h_.version >= 3 && (e & kZeroFlag)) && (e & kOffsetMask) && (e & kCopied);
  };
  auto has_space = [&](uint64_t e) { return (e & kCompressed) || (e & kOffsetMask); };
  AllocRun r;
  uint64_t cluster = pos >> h_.cluster_bits;
  r.l1_index = cluster / l2_entries_;
  r.first = cluster % l2_entries_;
  r.vstart = cluster * cs_;
  uint64_t l2_offset = 0;
  L2Table& t = l2_for_write(r.l1_index, l2_offset);
  if (owned(t[r.first])) return r;
  if (fresh_only && has_space(t[r.first])) {
    r.needs_exclusive = true;
    return r;
  }
  uint64_t table_end = std::min(end, (r.l1_index + 1) * l2_entries_ * cs_);
  uint64_t k = 1;
  while (r.vstart + k * cs_ < table_end && !owned(t[r.first + k]) && !pending_at(cluster + k) &&
         !(fresh_only && has_space(t[r.first + k])))
    ++k;
  r.host = refcounts().allocate(k, &k);
  r.count = k;
  r.from = pos;
  r.to = std::min(table_end, r.vstart + k * cs_);
  check_host_range(r.host, k * cs_);
  file_end_ = std::max<uint64_t>(file_end_, r.host + k * cs_);
  r.old.assign(t.begin() + static_cast<ptrdiff_t>(r.first), t.begin() + static_cast<ptrdiff_t>(r.first + k));
  uint64_t last_start = r.vstart + (k - 1) * cs_;
  // Like QEMU: one zeroing of the whole run rather than one per side (a
  // request in the middle of a new cluster made two).
  r.zero_whole = (pos > r.vstart || r.to < last_start + cs_) && zeros_before(r.old.front(), r.vstart) &&
                 zeros_before(r.old.back(), last_start);
  if (r.zero_whole) use_zeroed_ahead(r);
  return r;
}

void Qcow2Image::use_zeroed_ahead(AllocRun& r) {
  Refcounts& rc = refcounts();
  uint64_t first = r.host >> h_.cluster_bits;
  if (!rc.zeroed(first, r.count)) {
    if (r.host + r.count * cs_ < file_.size()) return;
    // The run grows the file: zero the clusters after it too, so that the
    // next new clusters need no fallocate of their own (on ext4 each one
    // waits for all direct I/O in flight on the file). Only clusters with
    // refcount 0; under meta_lock_, so nobody allocates them meanwhile.
    uint64_t n = r.count;
    while (n < std::max<uint64_t>(r.count, kZeroAheadBytes / cs_) && rc.get(first + n) == 0) ++n;
    file_.zero_range(r.host, n * cs_);
    rc.set_zeroed(first + r.count, first + n);
  }
  r.zero_whole = false;
  r.prezeroed = true;
}

void Qcow2Image::alloc_io(const AllocRun& r, std::span<const uint8_t> data) {
  if (r.prezeroed) {
    // Nothing but zeros around the data.
  } else if (r.zero_whole) {
    file_.zero_range(r.host, r.count * cs_);
  } else {
    // Keep the old content of [vfrom, vto) of run cluster j.
    auto fill = [&](uint64_t j, uint64_t vfrom, uint64_t vto) {
      if (vfrom >= vto) return;
      uint64_t cstart = r.vstart + j * cs_;
      uint64_t hbase = r.host + j * cs_;
      if (zeros_before(r.old[j], cstart)) {
        file_.zero_range(hbase + (vfrom - cstart), vto - vfrom);
        return;
      }
      std::vector<uint8_t> c(cs_);
      old_cluster_content(r.old[j], cstart, c);
      file_.write(hbase + (vfrom - cstart), std::span<const uint8_t>(c).subspan(vfrom - cstart, vto - vfrom));
    };
    uint64_t last_start = r.vstart + (r.count - 1) * cs_;
    fill(0, r.vstart, r.from);
    fill(r.count - 1, r.to, last_start + cs_);
  }
  file_.write(r.host + (r.from - r.vstart), data);
}

void Qcow2Image::commit_alloc(const AllocRun& r) {
  uint64_t l2_offset = 0;
  L2Table& t = l2_for_write(r.l1_index, l2_offset);
  for (uint64_t j = 0; j < r.count; ++j) t[r.first + j] = (r.host + j * cs_) | kCopied;
  // Entries that replace nothing wait for a flush (hold_back_l2); one that
  // replaces a cluster is written before that cluster loses its reference.
  if (std::all_of(r.old.begin(), r.old.end(), [](uint64_t e) { return e == 0; })) {
    hold_back_l2(l2_offset, r.first, r.count);
    return;
  }
  write_l2_entries(l2_offset, t, r.first, r.count);
  for (uint64_t e : r.old) release_entry(e);
}

}  // namespace insula::block
