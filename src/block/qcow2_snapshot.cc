// Snapshot table parsing.
#include "block/qcow2_snapshot.h"

#include "base/error.h"

namespace insula::block::qcow2 {

std::vector<Snapshot> read_snapshots(const ImageFile& file, const Header& h, uint64_t& total_bytes) {
  std::vector<Snapshot> out;
  uint64_t pos = h.snapshots_offset;
  uint64_t file_size = file.size();
  auto need = [&](uint64_t n) {
    if (pos > file_size || n > file_size - pos)
      throw error("'{}' is corrupt: the snapshot table runs past the end of the file", file.path());
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
    if (extra > 1024) throw error("'{}' is corrupt: snapshot {} has {} bytes of extra data", file.path(), i, extra);
    pos += 40;
    need(uint64_t{extra} + id_len + name_len);
    std::vector<uint8_t> rest(uint64_t{extra} + id_len + name_len);
    file.read(pos, rest);
    if (extra >= 8) s.vm_state_size = be64(&rest[0]);
    s.disk_size = extra >= 16 ? be64(&rest[8]) : h.size;
    if (extra >= 24) s.icount = be64(&rest[16]);
    s.id.assign(rest.begin() + extra, rest.begin() + extra + id_len);
    s.name.assign(rest.begin() + extra + id_len, rest.end());
    pos += rest.size();
    pos = (pos + 7) & ~7ULL;
    if (uint64_t{s.l1_size} * 8 > kMaxL1Bytes || s.l1_table_offset % h.cluster_size())
      throw error("'{}' is corrupt: snapshot '{}' has an invalid L1 table", file.path(), s.id);
    out.push_back(std::move(s));
  }
  total_bytes = pos - h.snapshots_offset;
  return out;
}

}  // namespace insula::block::qcow2
