// Switching an image to new metadata in one write (what snapshot create,
// apply and delete do).
//
// A snapshot operation changes refcounts and COPIED flags in many clusters,
// and qemu-img check wants "COPIED exactly when the stored refcount is 1" at
// every instant: no order of in-place writes keeps that (a refcount and the
// flag that must follow it live in different clusters). So the next metadata
// is built beside the current one: every L2 table whose flags change, the L1
// tables that point at moved tables, the snapshot table, and all refcount
// blocks and the refcount table, recounted from scratch. It goes into
// clusters past the end of the file, which the current metadata neither
// references nor counts. One write of the header's table pointers (bytes
// 24-72, inside the first sector) then switches to it. A crash before that
// write leaves the old image as it was (longer by unreferenced clusters,
// which qemu-img check does not report); after it, the new one, clean.
#include <algorithm>
#include <map>

#include "base/error.h"
#include "block/qcow2.h"

namespace insula::block {

using namespace qcow2;

namespace {
uint64_t clusters_for(uint64_t bytes, uint64_t cs) { return (bytes + cs - 1) / cs; }
}  // namespace

void Qcow2Image::switch_metadata(NextMetadata next, const std::string& action) {
  if (next.snapshots.size() != next.snapshot_l1.size())
    throw error("internal error: {} snapshot entries but {} L1 tables", next.snapshots.size(), next.snapshot_l1.size());
  Refcounts& rc = refcounts();
  const uint64_t old_end = std::max<uint64_t>(file_.size(), file_end_.load());
  const uint64_t first = clusters_for(old_end, cs_);  // the new clusters start here
  if (first > (1ULL << 31)) throw error("cannot {} '{}': too many clusters ({}) to recount", action, file_.path(), first);

  // 1. Every L2 table referenced, read once; references per cluster counted
  // once per L1 table that reaches it (qcow2's rule).
  std::map<uint64_t, L2Table> tables;
  std::map<uint64_t, uint64_t> table_refs;
  std::vector<uint32_t> ref(first, 0);
  auto count = [&](uint64_t off, uint64_t len) {
    if (!len) return;
    const uint64_t a = off / cs_, b = (off + len - 1) / cs_;
    if (b >= first || off + len < off) corrupt(fmt::format("metadata at {:#x} lies past the end of the file", off));
    for (uint64_t c = a; c <= b; ++c) ++ref[c];
  };
  auto walk = [&](const std::vector<uint64_t>& l1) {
    for (uint64_t e : l1) {
      const uint64_t t = e & kOffsetMask;
      if (!t) continue;
      if (t % cs_ || t < cs_ || t / cs_ >= first) corrupt(fmt::format("L2 table offset {:#x} is invalid", t));
      ++table_refs[t];
      auto [it, fresh] = tables.try_emplace(t);
      if (fresh) {
        std::vector<uint8_t> raw(cs_);
        file_.read(t, raw);
        it->second.resize(l2_entries_);
        for (uint64_t j = 0; j < l2_entries_; ++j) it->second[j] = be64(&raw[j * 8]);
      }
      for (uint64_t entry : it->second) {
        if (entry & kCompressed) {
          uint64_t host, length;
          compressed_range(entry, host, length);
          count(host, length);
        } else if (entry & kOffsetMask) {
          count(entry & kOffsetMask, cs_);
        }
      }
    }
  };
  walk(next.active_l1);
  for (const auto& l1 : next.snapshot_l1) walk(l1);

  // 2. The active tables' COPIED flags from those counts; a table whose
  // content changes moves (every L1 table pointing at it follows).
  std::map<uint64_t, uint64_t> moved;  // old offset -> new offset (filled below)
  for (uint64_t e : next.active_l1) {
    const uint64_t t = e & kOffsetMask;
    if (!t || moved.count(t)) continue;
    L2Table& table = tables[t];
    bool changed = false;
    for (uint64_t& entry : table) {
      const uint64_t host = entry & kOffsetMask;
      const bool copied = !(entry & kCompressed) && host && ref[host / cs_] == 1;
      const uint64_t want = copied ? (entry | kCopied) : (entry & ~kCopied);
      changed |= want != entry;
      entry = want;
    }
    if (changed) moved[t] = 0;
  }
  std::vector<bool> snapshot_moves(next.snapshots.size());
  for (size_t i = 0; i < next.snapshots.size(); ++i) {
    bool m = next.snapshots[i].l1_table_offset == 0 && next.snapshots[i].l1_size;
    for (uint64_t e : next.snapshot_l1[i]) m |= moved.count(e & kOffsetMask) && (e & kOffsetMask);
    snapshot_moves[i] = m;
  }

  // 3. Where everything new goes, from `first` on: moved L2 tables, the active
  // L1 table, moved snapshot L1 tables, the snapshot table, then refcount
  // blocks for every cluster up to the new end and the refcount table.
  uint64_t at = first;
  for (auto& [old, to] : moved) to = (at++) * cs_;
  const uint64_t l1_offset = next.active_l1.empty() ? 0 : at * cs_;
  at += clusters_for(next.active_l1.size() * 8, cs_);
  for (size_t i = 0; i < next.snapshots.size(); ++i) {
    if (!snapshot_moves[i]) continue;
    next.snapshots[i].l1_table_offset = at * cs_;
    at += clusters_for(uint64_t{next.snapshots[i].l1_size} * 8, cs_);
  }
  std::vector<uint8_t> snapshot_table = serialize_snapshots(next.snapshots);  // size only depends on the entries
  const uint64_t snapshots_offset = next.snapshots.empty() ? 0 : at * cs_;
  if (!next.snapshots.empty()) at += clusters_for(snapshot_table.size(), cs_);
  const uint64_t per_block = rc.entries_per_block();
  uint64_t nblocks = 0, tclusters = 0;
  for (;;) {
    const uint64_t end = at + nblocks + tclusters;
    const uint64_t need_blocks = clusters_for(end, per_block);
    const uint64_t need_table = clusters_for(need_blocks * 8, cs_);
    if (need_blocks == nblocks && need_table == tclusters) break;
    nblocks = std::max(nblocks, need_blocks);
    tclusters = std::max(tclusters, need_table);
  }
  if (tclusters * cs_ > kMaxRefTableBytes)
    throw error("cannot {} '{}': its refcount table would exceed {} bytes", action, file_.path(), kMaxRefTableBytes);
  const uint64_t blocks_at = at;
  const uint64_t table_at = at + nblocks;
  const uint64_t end = table_at + tclusters;
  if ((end * cs_) / cs_ != end || end * cs_ > kOffsetMask)
    throw error("cannot {} '{}': host offsets would exceed the qcow2 limit", action, file_.path());

  // 4. The new refcounts: data clusters as counted, plus every table where it
  // will be. Nothing is written before they are known to fit.
  ref.resize(end, 0);
  ref[0] += 1;  // the header
  for (const auto& [t, n] : table_refs) {
    auto m = moved.find(t);
    ref[(m == moved.end() ? t : m->second) / cs_] += static_cast<uint32_t>(n);
  }
  auto count_new = [&](uint64_t off, uint64_t len) {
    if (!len) return;
    for (uint64_t c = off / cs_; c <= (off + len - 1) / cs_; ++c) ++ref[c];
  };
  count_new(l1_offset, next.active_l1.size() * 8);
  for (const Snapshot& s : next.snapshots) count_new(s.l1_table_offset, uint64_t{s.l1_size} * 8);
  count_new(snapshots_offset, next.snapshots.empty() ? 0 : snapshot_table.size());
  count_new(blocks_at * cs_, (nblocks + tclusters) * cs_);
  for (uint64_t c = 0; c < end; ++c)
    if (ref[c] > rc.max_refcount())
      throw error("cannot {} '{}': cluster {} would need refcount {}, more than refcount_bits={} holds; convert the "
                  "image with -o refcount_bits=16",
                  action, file_.path(), c, ref[c], 1U << h_.refcount_order);

  // 5. Write it all past the end, make it durable, switch the header.
  file_.truncate(end * cs_);
  std::vector<uint8_t> raw(cs_);
  for (const auto& [old, to] : moved) {
    for (uint64_t j = 0; j < l2_entries_; ++j) put64(&raw[j * 8], tables[old][j]);
    file_.write(to, raw);
  }
  auto redirect = [&](uint64_t e) {
    auto m = moved.find(e & kOffsetMask);
    return m == moved.end() || !(e & kOffsetMask) ? e : (e & ~kOffsetMask) | m->second;
  };
  auto write_table = [&](uint64_t offset, const std::vector<uint64_t>& entries) {
    // Whole clusters: the tail past the last entry reads as zeros, so the
    // table can later grow in place (resize relies on it).
    std::vector<uint8_t> buf(clusters_for(entries.size() * 8, cs_) * cs_, 0);
    for (size_t i = 0; i < entries.size(); ++i) put64(&buf[i * 8], entries[i]);
    if (!buf.empty()) file_.write(offset, buf);
  };
  for (uint64_t& e : next.active_l1) {
    const uint64_t t = e & kOffsetMask;
    if (!t) continue;
    e = redirect(e);
    e = table_refs[t] == 1 ? (e | kCopied) : (e & ~kCopied);
  }
  write_table(l1_offset, next.active_l1);
  for (size_t i = 0; i < next.snapshots.size(); ++i) {
    if (!snapshot_moves[i]) continue;
    std::vector<uint64_t> l1 = next.snapshot_l1[i];
    for (uint64_t& e : l1) e = redirect(e) & ~kCopied;  // flags mean nothing in a snapshot's table
    write_table(next.snapshots[i].l1_table_offset, l1);
  }
  if (!next.snapshots.empty()) {
    snapshot_table = serialize_snapshots(next.snapshots);
    snapshot_table.resize(clusters_for(snapshot_table.size(), cs_) * cs_, 0);
    file_.write(snapshots_offset, snapshot_table);
  }
  std::vector<uint64_t> reftable(tclusters * cs_ / 8, 0);
  for (uint64_t b = 0; b < nblocks; ++b) {
    std::fill(raw.begin(), raw.end(), 0);
    for (uint64_t i = 0; i < per_block && b * per_block + i < end; ++i)
      if (ref[b * per_block + i]) rc.put_entry(raw, i, ref[b * per_block + i]);
    reftable[b] = (blocks_at + b) * cs_;
    file_.write(reftable[b], raw);
  }
  write_table(table_at * cs_, reftable);
  file_.sync();  // everything the new header points at is on disk first

  uint8_t hdr[48] = {};  // size, crypt_method, l1_size, l1_table_offset, refcount table, snapshots
  put64(hdr, next.size);
  put32(hdr + 8, h_.crypt_method);
  put32(hdr + 12, static_cast<uint32_t>(next.active_l1.size()));
  put64(hdr + 16, l1_offset);
  put64(hdr + 24, table_at * cs_);
  put32(hdr + 32, static_cast<uint32_t>(tclusters));
  put32(hdr + 36, static_cast<uint32_t>(next.snapshots.size()));
  put64(hdr + 40, snapshots_offset);
  file_.write(24, hdr);
  file_.sync();

  h_.size = next.size;
  h_.l1_size = static_cast<uint32_t>(next.active_l1.size());
  h_.l1_table_offset = l1_offset;
  h_.refcount_table_offset = table_at * cs_;
  h_.refcount_table_clusters = static_cast<uint32_t>(tclusters);
  h_.nb_snapshots = static_cast<uint32_t>(next.snapshots.size());
  h_.snapshots_offset = snapshots_offset;
  l1_ = std::move(next.active_l1);
  refcounts_.reset();
  refcounts_.emplace(file_, h_);
  file_end_ = end * cs_;
  trusted_end_ = file_end_;  // every table was checked (require_consistent) and rewritten
  written_l2_.clear();
  drop_l2_cache();
}

}  // namespace insula::block
