// VmManager::export_vm: `insula vm export`. See vm_archive.h for the layout.
//
// Disks are staged first (copied, converted or flattened with the block
// layer) in a temporary directory of the state dir, with the VM paused if it
// runs, so disk contents and the snapshot taken for the export agree. Then
// every file is checksummed, the manifest written first into FILE.partial,
// the files after it, and FILE.partial renamed to FILE: a failed export
// leaves no FILE.
#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <cerrno>
#include <ctime>
#include <filesystem>

#include "api/api_client.h"
#include "base/error.h"
#include "base/fd.h"
#include "block/image_ops.h"
#include "manager/vm_archive.h"
#include "manager/vm_lock.h"
#include "manager/vm_manager.h"
#include "vmm/disk_snapshots.h"

namespace insula::manager {

namespace fs = std::filesystem;

namespace {

// A directory removed with everything in it when it goes out of scope.
struct TempTree {
  std::string path;
  ~TempTree() {
    std::error_code ignored;
    if (!path.empty()) fs::remove_all(path, ignored);
  }
};

std::string make_temp_dir(const std::string& pattern) {
  std::string p = pattern;
  if (!::mkdtemp(p.data())) throw errno_error(fmt::format("cannot create a temporary directory {}", pattern));
  return p;
}

struct Member {
  std::string path;    // in the archive
  std::string source;  // on this host
  uint64_t size = 0;
  std::string sha256;
};

struct ArchiveWriter {
  archive* a = archive_write_new();
  ~ArchiveWriter() { archive_write_free(a); }
};

// The data regions of a file with holes (SEEK_DATA/SEEK_HOLE), or nothing
// when it has none (or the file system cannot tell).
std::vector<std::pair<uint64_t, uint64_t>> data_regions(int fd, uint64_t size) {
  std::vector<std::pair<uint64_t, uint64_t>> out;
  uint64_t pos = 0, covered = 0;
  while (pos < size) {
    off_t d = ::lseek(fd, static_cast<off_t>(pos), SEEK_DATA);
    if (d < 0) {
      if (errno == ENXIO) break;  // a hole up to the end
      return {};
    }
    off_t h = ::lseek(fd, d, SEEK_HOLE);
    uint64_t end = h < 0 ? size : std::min<uint64_t>(static_cast<uint64_t>(h), size);
    out.emplace_back(static_cast<uint64_t>(d), end - static_cast<uint64_t>(d));
    covered += end - static_cast<uint64_t>(d);
    pos = end;
  }
  if (covered == size) return {};
  if (out.empty()) out.emplace_back(size, 0);  // all hole: GNU tar's map for that
  return out;
}

void write_member(archive* a, const std::string& file, const std::string& name, const std::string& data_path,
                  const std::string* inline_data, uint64_t size, const std::function<void(uint64_t)>& advance) {
  UniqueFd fd;
  if (!inline_data) {
    fd.reset(::open(data_path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) throw errno_error(fmt::format("cannot open {}", data_path));
  }
  std::unique_ptr<archive_entry, decltype(&archive_entry_free)> e(archive_entry_new(), archive_entry_free);
  archive_entry_set_pathname(e.get(), name.c_str());
  archive_entry_set_filetype(e.get(), AE_IFREG);
  archive_entry_set_perm(e.get(), 0600);
  archive_entry_set_size(e.get(), static_cast<la_int64_t>(size));
  archive_entry_set_mtime(e.get(), std::time(nullptr), 0);
  // Holes (a snapshot's untouched RAM, a sparse image) stay holes: a pax
  // sparse entry (GNU.sparse 1.0) holds only the data regions
  // (added after the size: libarchive drops regions past it).
  if (fd)
    for (auto [off, len] : data_regions(fd.get(), size))
      archive_entry_sparse_add_entry(e.get(), static_cast<la_int64_t>(off), static_cast<la_int64_t>(len));
  if (archive_write_header(a, e.get()) != ARCHIVE_OK)
    throw error("cannot write {} into {}: {}", name, file, archive_error_string(a));
  if (inline_data) {
    if (archive_write_data(a, inline_data->data(), inline_data->size()) != static_cast<la_ssize_t>(inline_data->size()))
      throw error("cannot write {} into {}: {}", name, file, archive_error_string(a));
    return;
  }
  // The whole logical contents go in; the writer skips the holes' bytes.
  std::vector<char> buf(1 << 20);
  uint64_t done = 0;
  while (done < size) {
    ssize_t n = ::pread(fd.get(), buf.data(), std::min<uint64_t>(buf.size(), size - done), static_cast<off_t>(done));
    if (n < 0) throw errno_error(fmt::format("cannot read {}", data_path));
    if (n == 0) throw error("{} shrank while it was exported", data_path);
    if (archive_write_data(a, buf.data(), static_cast<size_t>(n)) != n)
      throw error("cannot write {} into {}: {}", name, file, archive_error_string(a));
    done += static_cast<uint64_t>(n);
    advance(static_cast<uint64_t>(n));
  }
}

// Stages disk i into dir (the staging root) as one or more qcow2 files;
// returns the archive paths, the top first.
std::vector<std::string> stage_disk(const std::string& dir, size_t i, const std::string& path, const std::string& format,
                                    bool flatten) {
  auto chain = block::image_info(path, format, /*backing_chain=*/true);
  std::string stem = fmt::format("disks/disk{}", i);
  auto convert = [&](const std::string& src, const std::string& fmt_, const std::string& dst) {
    block::ConvertRequest c;
    c.source = src;
    c.source_format = fmt_;
    c.dest = dir + "/" + dst;
    c.dest_format = "qcow2";
    block::convert_image(c, {});
  };
  if (chain.size() == 1 || flatten) {
    std::string name = stem + ".qcow2";
    if (chain.size() == 1 && chain[0].format == "qcow2") fs::copy_file(path, dir + "/" + name);  // keeps its internal snapshots
    else convert(path, chain[0].format, name);  // raw: only the data (sparse); a chain: flattened
    return {name};
  }
  std::vector<std::string> names;
  for (size_t j = 0; j < chain.size(); ++j) names.push_back(fmt::format("{}.{}.qcow2", stem, j));
  for (size_t j = 0; j < chain.size(); ++j) {
    if (chain[j].format == "qcow2") fs::copy_file(chain[j].filename, dir + "/" + names[j]);
    else convert(chain[j].filename, chain[j].format, names[j]);
  }
  // Each member's backing file becomes the next one, by a name relative to
  // its own directory (how qcow2 resolves a relative backing file).
  for (size_t j = 0; j + 1 < chain.size(); ++j)
    block::rebase_image(dir + "/" + names[j], "qcow2", fs::path(names[j + 1]).filename().string(), "qcow2",
                        /*unsafe=*/true, {});
  return names;
}

}  // namespace

ExportResult VmManager::export_vm(const std::string& name, const ExportOptions& o, const block::Progress& progress) {
  VmRecord r = reconcile(existing(name));
  ExportResult res;
  res.vm = name;
  res.file = o.file;
  if (!o.snapshot.empty() && !store_.get_snapshot(name, o.snapshot))
    throw error("VM {} has no snapshot named {} (see insula vm snapshots {})", name, o.snapshot, name);
  if (r.pid != 0 && r.state != "running" && r.state != "paused")
    throw error("VM {} is {}: it can be exported when stopped, running or paused", name, r.state);

  TempTree staging{make_temp_dir(state_dir_ + "/vms/.export-XXXXXX")};
  std::vector<Member> members;
  nlohmann::json devices = nlohmann::json::parse(r.devices, nullptr, false);
  if (!devices.is_object()) throw error("VM {}'s device record is not valid JSON", name);
  bool live = r.pid != 0;
  bool was_paused = r.state == "paused";
  // A running VM is exported from a full snapshot taken now, with the VM
  // kept paused until its disks are copied: the disks then match the memory.
  struct TempSnapshot {
    VmManager* m = nullptr;
    std::string vm, snap;
    ~TempSnapshot() {
      if (m) try { m->remove_snapshot(vm, snap); } catch (const std::exception&) {}
    }
  } temp;
  if (live && o.snapshot.empty()) {
    res.running_snapshot = fmt::format("export-{}", std::time(nullptr));
    // Memory only: the disks staged below are this instant's (flattened ones
    // could not carry an internal snapshot anyway).
    snapshot(name, res.running_snapshot, /*keep_paused=*/true, /*with_disks=*/false);
    temp.vm = name;
    temp.snap = res.running_snapshot;
    temp.m = this;  // set last, field by field: a temporary TempSnapshot would remove it at once
  }

  nlohmann::json disks = nlohmann::json::array();
  std::vector<std::string> writable_tops;  // staged files that hold disk-only snapshots
  {
    VmLock lock(vm_dir(name) + ".lock");  // no start meanwhile; a running VM is paused
    std::unique_ptr<api::ApiClient> api;
    if (live) {
      api = std::make_unique<api::ApiClient>(r.api_socket, std::chrono::seconds(30));
      // (the snapshot above left it paused already)
      if (!was_paused && !o.snapshot.empty()) api->expect_ok("PATCH", "/vm", nlohmann::json{{"state", "Paused"}});
    }
    auto resume = [&] {
      if (live && !was_paused) api->call("PATCH", "/vm", nlohmann::json{{"state", "Resumed"}});
    };
    try {
      fs::create_directories(staging.path + "/disks");
      size_t i = 0;
      for (auto& d : devices["drives"]) {
        std::string path = d.value("path_on_host", "");
        auto names = stage_disk(staging.path, i++, path, d.value("format", ""), o.flatten);
        for (const auto& n : names) members.push_back(Member{n, staging.path + "/" + n, 0, {}});
        disks.push_back({{"drive_id", d.value("drive_id", "")}, {"original_path", path}, {"files", names}});
        if (!d.value("is_read_only", false)) writable_tops.push_back(staging.path + "/" + names.front());
        d["path_on_host"] = names.front();
        d["format"] = "qcow2";
        res.disks.push_back(names.front());
      }
    } catch (...) {
      resume();
      throw;
    }
    resume();
  }

  nlohmann::json vm{{"name", r.name}, {"cmdline", r.cmdline}, {"cpus", r.cpus}, {"memory", r.memory},
                    {"devices", devices}, {"created_at", r.created_at}, {"original_kernel", r.kernel},
                    {"original_initrd", r.initrd}, {"kernel", "boot/kernel"}, {"initrd", ""}};
  members.push_back(Member{"boot/kernel", r.kernel, 0, {}});
  if (!r.initrd.empty()) {
    members.push_back(Member{"boot/initrd", r.initrd, 0, {}});
    vm["initrd"] = "boot/initrd";
  }
  nlohmann::json snaps = nlohmann::json::array();
  nlohmann::json disk_snaps = nlohmann::json::array();
  for (const auto& s : store_.list_snapshots(name)) {
    bool wanted = o.snapshot.empty() ? true : s.name == o.snapshot;
    if (!wanted) continue;
    if (s.kind == "disk") {
      // Their data travels inside the qcow2 disks; the record goes along
      // only when every writable disk in the archive holds it.
      bool held = !writable_tops.empty();
      for (const auto& top : writable_tops) held = held && vmm::has_internal_snapshot(top, s.name);
      if (!held) {
        res.skipped_snapshots.push_back(s.name);
        continue;
      }
      disk_snaps.push_back({{"name", s.name}, {"created_at", s.created_at}});
      res.snapshots.push_back(s.name);
      continue;
    }
    std::string base = "snapshots/" + s.name;
    members.push_back(Member{base + "/state", s.state_path, 0, {}});
    members.push_back(Member{base + "/memory", s.memory_path, 0, {}});
    snaps.push_back({{"name", s.name}, {"state", base + "/state"}, {"memory", base + "/memory"},
                     {"memory_size", s.memory}, {"created_at", s.created_at}, {"original_state", s.state_path}});
    res.snapshots.push_back(s.name);
  }

  // Checksums first (the manifest leads the archive), then the data: the
  // progress covers both passes.
  uint64_t total = 0;
  for (auto& m : members) {
    check_member_path(m.path);
    m.size = fs::file_size(m.source);
    total += m.size;
  }
  uint64_t done = 0;
  auto advance = [&](uint64_t n) {
    done += n;
    if (progress && total) progress(std::min(1.0, static_cast<double>(done) / (2.0 * static_cast<double>(total))));
  };
  nlohmann::json files = nlohmann::json::array();
  for (auto& m : members) {
    m.sha256 = sha256_file(m.source);
    advance(m.size);
    files.push_back({{"path", m.path}, {"size", m.size}, {"sha256", m.sha256}});
  }
  nlohmann::json manifest{{"format", kExportFormat},  {"format_version", kExportFormatVersion},
                          {"vm", vm},                 {"disks", disks},
                          {"snapshots", snaps}, {"disk_snapshots", disk_snaps},       {"files", files},
                          {"running_snapshot", res.running_snapshot}, {"flattened", o.flatten}};
  std::string manifest_text = manifest.dump(2);

  std::string partial = o.file + ".partial";
  struct PartialFile {
    std::string path;
    bool keep = false;
    ~PartialFile() {
      std::error_code ignored;
      if (!keep) fs::remove(path, ignored);
    }
  } guard{partial};
  ArchiveWriter w;
  archive_write_set_format_pax_restricted(w.a);
  if (o.zstd && archive_write_add_filter_zstd(w.a) != ARCHIVE_OK)
    throw error("zstd compression is not available: {}", archive_error_string(w.a));
  if (archive_write_open_filename(w.a, partial.c_str()) != ARCHIVE_OK)
    throw error("cannot create {}: {}", partial, archive_error_string(w.a));
  write_member(w.a, o.file, kManifestName, "", &manifest_text, manifest_text.size(), advance);
  for (const auto& m : members) write_member(w.a, o.file, m.path, m.source, nullptr, m.size, advance);
  if (archive_write_close(w.a) != ARCHIVE_OK) throw error("cannot finish {}: {}", partial, archive_error_string(w.a));
  fs::rename(partial, o.file);
  guard.keep = true;
  if (progress) progress(1.0);
  res.data_bytes = total;
  res.archive_bytes = fs::file_size(o.file);
  return res;
}

}  // namespace insula::manager
