// Snapshot table parsing (bounds-checked) and serialisation.
#include "block/qcow2_snapshot.h"

#include "base/error.h"

namespace insula::block::qcow2 {

std::vector<Snapshot> read_snapshots(const ImageFile& file, const Header& h, uint64_t& total_bytes) {
  std::vector<Snapshot> out;
  uint64_t pos = h.snapshots_offset;
  const uint64_t file_size = file.size();
  auto corrupt = [&](const std::string& what) {
    return error("'{}' is corrupt: {}; run `insula img check` on it", file.path(), what);
  };
  auto need = [&](uint64_t n) {
    if (pos > file_size || n > file_size - pos) throw corrupt("the snapshot table runs past the end of the file");
    if (pos - h.snapshots_offset + n > kMaxSnapshotTableBytes)
      throw corrupt(fmt::format("the snapshot table is larger than {} bytes", kMaxSnapshotTableBytes));
  };
  for (uint32_t i = 0; i < h.nb_snapshots; ++i) {
    need(40);
    uint8_t f[40];
    file.read(pos, f);
    Snapshot s;
    s.l1_table_offset = be64(f);
    s.l1_size = be32(f + 8);
    uint16_t id_len = be16(f + 12), name_len = be16(f + 14);
    s.date_sec = be32(f + 16);
    s.date_nsec = be32(f + 20);
    s.vm_clock_nsec = be64(f + 24);
    s.vm_state_size = be32(f + 32);
    uint32_t extra = be32(f + 36);
    if (extra > kMaxSnapshotExtraData)
      throw corrupt(fmt::format("snapshot {} has {} bytes of extra data (at most {})", i, extra, kMaxSnapshotExtraData));
    pos += 40;
    need(uint64_t{extra} + id_len + name_len);
    std::vector<uint8_t> rest(uint64_t{extra} + id_len + name_len);
    file.read(pos, rest);
    if (extra >= 8) s.vm_state_size = be64(&rest[0]);
    s.disk_size = extra >= 16 ? be64(&rest[8]) : h.size;
    if (extra >= 24) s.icount = be64(&rest[16]);
    if (extra > kSnapshotExtraData) s.unknown_extra.assign(rest.begin() + kSnapshotExtraData, rest.begin() + extra);
    s.id.assign(rest.begin() + extra, rest.begin() + extra + id_len);
    s.name.assign(rest.begin() + extra + id_len, rest.end());
    pos += rest.size();
    pos = (pos + 7) & ~7ULL;
    const uint64_t l1_bytes = uint64_t{s.l1_size} * 8;
    if (l1_bytes > kMaxL1Bytes)
      throw corrupt(fmt::format("snapshot '{}' has an L1 table of {} entries (at most {})", s.id, s.l1_size, kMaxL1Bytes / 8));
    if (s.l1_size && (s.l1_table_offset % h.cluster_size() || s.l1_table_offset == 0 ||
                      s.l1_table_offset > file_size || l1_bytes > file_size - s.l1_table_offset))
      throw corrupt(fmt::format("snapshot '{}' has its L1 table at an invalid offset {:#x}", s.id, s.l1_table_offset));
    if (s.disk_size > kMaxVirtualSize)
      throw corrupt(fmt::format("snapshot '{}' has a disk size of {} bytes", s.id, s.disk_size));
    out.push_back(std::move(s));
  }
  total_bytes = pos - h.snapshots_offset;
  return out;
}

std::vector<uint8_t> serialize_snapshots(const std::vector<Snapshot>& snapshots) {
  std::vector<uint8_t> out;
  for (const Snapshot& s : snapshots) {
    out.resize((out.size() + 7) & ~size_t{7}, 0);
    if (s.id.size() > UINT16_MAX || s.name.size() > UINT16_MAX)
      throw error("snapshot name '{}' is too long", s.name.substr(0, 64));
    uint32_t extra = kSnapshotExtraData + static_cast<uint32_t>(s.unknown_extra.size());
    size_t at = out.size();
    out.resize(at + 40 + extra + s.id.size() + s.name.size(), 0);
    uint8_t* p = &out[at];
    put64(p, s.l1_table_offset);
    put32(p + 8, s.l1_size);
    put16(p + 12, static_cast<uint16_t>(s.id.size()));
    put16(p + 14, static_cast<uint16_t>(s.name.size()));
    put32(p + 16, s.date_sec);
    put32(p + 20, s.date_nsec);
    put64(p + 24, s.vm_clock_nsec);
    // The 32-bit field is ignored when the 64-bit one is present; QEMU
    // writes the low half there (0 for disk-only snapshots).
    put32(p + 32, static_cast<uint32_t>(s.vm_state_size));
    put32(p + 36, extra);
    put64(p + 40, s.vm_state_size);
    put64(p + 48, s.disk_size);
    put64(p + 56, s.icount);
    std::copy(s.unknown_extra.begin(), s.unknown_extra.end(), p + 64);
    std::copy(s.id.begin(), s.id.end(), p + 40 + extra);
    std::copy(s.name.begin(), s.name.end(), p + 40 + extra + s.id.size());
  }
  if (out.size() > kMaxSnapshotTableBytes) throw error("the snapshot table would exceed {} bytes", kMaxSnapshotTableBytes);
  return out;
}

int find_snapshot(const std::vector<Snapshot>& snapshots, const std::string& key) {
  for (size_t i = 0; i < snapshots.size(); ++i)
    if (snapshots[i].id == key) return static_cast<int>(i);
  for (size_t i = 0; i < snapshots.size(); ++i)
    if (snapshots[i].name == key) return static_cast<int>(i);
  return -1;
}

}  // namespace insula::block::qcow2
