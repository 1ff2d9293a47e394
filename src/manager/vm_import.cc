// VmManager::import_vm: `insula vm import`. The archive is hostile until
// checked: it is unpacked into a temporary directory inside the state dir
// (<state>/vms/.import-XXXXXX), with libarchive's secure extraction flags
// and our own checks on every entry (a plain relative path named by the
// manifest, a regular file, no more bytes than declared), every checksum and
// size is verified, and only then are paths rewritten and the VM and its
// snapshots recorded in one transaction, inside which the directory is
// renamed into place. Any failure removes the temporary directory and
// records nothing.
#include <archive.h>
#include <archive_entry.h>
#include <openssl/evp.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdio>

#include <filesystem>
#include <map>
#include <memory>
#include <set>

#include "base/error.h"
#include "base/fd.h"
#include "base/state_file.h"
#include "block/image_ops.h"
#include "manager/vm_archive.h"
#include "manager/vm_lock.h"
#include "manager/vm_manager.h"
#include "vmm/disk_snapshots.h"
#include "vmm/machine_state.h"

namespace insula::manager {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

struct ArchiveReader {
  archive* a = archive_read_new();
  ~ArchiveReader() { archive_read_free(a); }
};
struct DiskWriter {
  archive* a = archive_write_disk_new();
  ~DiskWriter() { archive_write_free(a); }
};

// The process's working directory moved into dir for this scope:
// libarchive's SECURE_NOABSOLUTEPATHS takes only relative paths, resolved
// from the working directory. The CLI is single-threaded while importing.
class InDirectory {
 public:
  explicit InDirectory(const std::string& dir) : saved_(::open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) {
    if (!saved_ || ::chdir(dir.c_str()) != 0) throw errno_error(fmt::format("cannot enter {}", dir));
  }
  ~InDirectory() {
    if (::fchdir(saved_.get()) != 0) std::perror("insula: cannot return to the working directory");
  }
  InDirectory(const InDirectory&) = delete;
  InDirectory& operator=(const InDirectory&) = delete;

 private:
  UniqueFd saved_;
};

struct Declared {
  uint64_t size = 0;
  std::string sha256;
  bool seen = false;
};

std::string hex(const unsigned char* md, unsigned len) {
  std::string h;
  for (unsigned i = 0; i < len; ++i) h += fmt::format("{:02x}", md[i]);
  return h;
}

// The manifest's fields, type-checked: a malformed one is refused with its name.
template <typename T>
T field(const json& j, const char* key, const std::string& what) {
  try {
    return j.at(key).get<T>();
  } catch (const json::exception&) {
    throw error("the archive's manifest is malformed: {} has no valid \"{}\"", what, key);
  }
}

// Points a snapshot's saved machine config at the imported files.
void rewrite_snapshot_config(const std::string& state_path, const std::map<std::string, std::string>& paths) {
  StateReader r = StateReader::read_file(state_path);
  StateWriter w;
  for (const auto& s : r.sections()) {
    if (s.id != vmm::section::kConfig) {
      w.add(s.id, s.version, s.data);
      continue;
    }
    json cfg = json::parse(std::string(s.data.begin(), s.data.end()), nullptr, false);
    if (!cfg.is_object()) throw error("{}: the saved machine config is not JSON", state_path);
    for (const char* k : {"kernel", "initrd"})
      if (cfg.contains(k) && cfg[k].is_string())
        if (auto it = paths.find(cfg[k].get<std::string>()); it != paths.end()) cfg[k] = it->second;
    if (cfg.contains("disks") && cfg["disks"].is_array())
      for (auto& d : cfg["disks"])
        if (d.contains("path") && d["path"].is_string())
          if (auto it = paths.find(d["path"].get<std::string>()); it != paths.end()) {
            d["path"] = it->second;
            d["format"] = "qcow2";  // every disk is qcow2 in the archive (a raw one was converted)
          }
    std::string text = cfg.dump();
    w.add(s.id, s.version, {reinterpret_cast<const uint8_t*>(text.data()), text.size()});
  }
  w.write_file(state_path);
}

}  // namespace

ImportResult VmManager::import_vm(const std::string& file, const std::string& new_name, const block::Progress& progress) {
  ImportResult res;
  res.file = file;
  uint64_t file_size = fs::file_size(file);  // throws a clear error for a missing file

  // Absolute: extraction runs with tmp as the working directory.
  std::string tmp = fs::absolute(state_dir_ + "/vms/.import-XXXXXX").string();
  if (!::mkdtemp(tmp.data())) throw errno_error(fmt::format("cannot create a temporary directory in {}/vms", state_dir_));
  struct Cleanup {
    std::string path;
    ~Cleanup() {
      std::error_code ignored;
      if (!path.empty()) fs::remove_all(path, ignored);
    }
  } cleanup{tmp};

  ArchiveReader rd;
  archive_read_support_filter_all(rd.a);
  archive_read_support_format_tar(rd.a);
  if (archive_read_open_filename(rd.a, file.c_str(), 1 << 20) != ARCHIVE_OK)
    throw error("cannot open the archive {}: {}", file, archive_error_string(rd.a));
  auto corrupt = [&](const char* doing) {
    return error("the archive {} is truncated or corrupt ({}: {})", file, doing, archive_error_string(rd.a));
  };

  // The manifest comes first and is read into memory, bounded.
  archive_entry* e = nullptr;
  int rc = archive_read_next_header(rd.a, &e);
  if (rc != ARCHIVE_OK) throw corrupt("reading the first entry");
  if (std::string(archive_entry_pathname(e) ? archive_entry_pathname(e) : "") != kManifestName ||
      archive_entry_filetype(e) != AE_IFREG)
    throw error("{} is not an insula VM export: its first entry is not {}", file, kManifestName);
  if (!archive_entry_size_is_set(e) || archive_entry_size(e) < 0 ||
      archive_entry_size(e) > static_cast<la_int64_t>(kMaxManifestSize))
    throw error("the archive's manifest is {} bytes, more than the {} allowed", archive_entry_size(e), kMaxManifestSize);
  std::string text(static_cast<size_t>(archive_entry_size(e)), '\0');
  if (archive_read_data(rd.a, text.data(), text.size()) != static_cast<la_ssize_t>(text.size())) throw corrupt("reading the manifest");
  json m = json::parse(text, nullptr, false);
  if (!m.is_object() || m.value("format", "") != kExportFormat)
    throw error("{} is not an insula VM export: its manifest is not one", file);
  if (!m.contains("format_version") || !m["format_version"].is_number_integer() ||
      m["format_version"].get<int64_t>() != kExportFormatVersion)
    throw error("{} has export format version {}, this insula reads version {}: import it with a matching insula", file,
                m.contains("format_version") ? m["format_version"].dump() : "none", kExportFormatVersion);

  std::map<std::string, Declared> declared;
  for (const auto& f : field<json>(m, "files", "the manifest")) {
    auto path = field<std::string>(f, "path", "a file");
    check_member_path(path);
    if (path == kManifestName || declared.count(path)) throw error("the archive's manifest lists {} twice", path);
    declared[path] = {field<uint64_t>(f, "size", path), field<std::string>(f, "sha256", path)};
  }
  json vm = field<json>(m, "vm", "the manifest");
  std::string name = new_name.empty() ? field<std::string>(vm, "name", "the VM") : new_name;
  check_vm_name(name);
  res.vm = name;
  std::string dir = vm_dir(name);
  // Checked again under the lock before recording; this only saves the unpacking.
  if (store_.get(name)) throw error("a VM named {} already exists: give the import another name (insula vm import FILE NAME)", name);

  DiskWriter dw;
  archive_write_disk_set_options(dw.a, ARCHIVE_EXTRACT_SECURE_NODOTDOT | ARCHIVE_EXTRACT_SECURE_SYMLINKS |
                                           ARCHIVE_EXTRACT_SECURE_NOABSOLUTEPATHS | ARCHIVE_EXTRACT_NO_OVERWRITE |
                                           ARCHIVE_EXTRACT_SPARSE);
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  std::vector<uint8_t> zeros(1 << 16);
  std::optional<InDirectory> in_tmp(std::in_place, tmp);
  while ((rc = archive_read_next_header(rd.a, &e)) == ARCHIVE_OK) {
    std::string path = archive_entry_pathname(e) ? archive_entry_pathname(e) : "";
    check_member_path(path);
    if (archive_entry_filetype(e) != AE_IFREG || archive_entry_hardlink(e) || archive_entry_symlink(e))
      throw error("archive member {} is not a regular file (a link or device): refusing the archive", path);
    auto it = declared.find(path);
    if (it == declared.end()) throw error("archive member {} is not in the manifest: refusing the archive", path);
    Declared& d = it->second;
    if (d.seen) throw error("archive member {} appears twice: refusing the archive", path);
    d.seen = true;
    if (!archive_entry_size_is_set(e) || static_cast<uint64_t>(archive_entry_size(e)) != d.size)
      throw error("archive member {} is {} bytes, the manifest says {}: refusing the archive", path,
                  archive_entry_size(e), d.size);
    archive_entry_set_pathname(e, path.c_str());  // relative to tmp, our working directory
    archive_entry_set_perm(e, 0600);
    if (archive_write_header(dw.a, e) != ARCHIVE_OK)
      throw error("cannot unpack {}: {}", path, archive_error_string(dw.a));
    EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr);
    uint64_t hashed = 0;
    auto hash_zeros_to = [&](uint64_t end) {
      while (hashed < end) {
        size_t n = static_cast<size_t>(std::min<uint64_t>(zeros.size(), end - hashed));
        EVP_DigestUpdate(ctx.get(), zeros.data(), n);
        hashed += n;
      }
    };
    const void* buf;
    size_t size;
    la_int64_t off;
    while ((rc = archive_read_data_block(rd.a, &buf, &size, &off)) == ARCHIVE_OK) {
      if (off < 0 || static_cast<uint64_t>(off) < hashed || static_cast<uint64_t>(off) + size > d.size)
        throw error("archive member {} holds more data than the {} bytes declared: refusing the archive", path, d.size);
      hash_zeros_to(static_cast<uint64_t>(off));
      EVP_DigestUpdate(ctx.get(), buf, size);
      hashed += size;
      if (archive_write_data_block(dw.a, buf, size, off) != ARCHIVE_OK)
        throw error("cannot write {}: {}", path, archive_error_string(dw.a));
      res.data_bytes += size;
      if (progress && file_size) progress(std::min(0.99, static_cast<double>(archive_filter_bytes(rd.a, -1)) / file_size));
    }
    if (rc != ARCHIVE_EOF) throw corrupt(path.c_str());
    hash_zeros_to(d.size);
    if (archive_write_finish_entry(dw.a) != ARCHIVE_OK)
      throw error("cannot write {}: {}", path, archive_error_string(dw.a));
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned len = 0;
    EVP_DigestFinal_ex(ctx.get(), md, &len);
    if (hex(md, len) != d.sha256)
      throw error("archive member {} does not match its SHA-256 checksum in the manifest: the archive is corrupt", path);
    // Belt and braces: what landed on disk is a regular file of that size inside tmp.
    auto st = fs::symlink_status(tmp + "/" + path);
    if (!fs::is_regular_file(st) || fs::file_size(tmp + "/" + path) != d.size)
      throw error("archive member {} did not unpack as a regular file of {} bytes", path, d.size);
    ++res.files;
  }
  if (rc != ARCHIVE_EOF) throw corrupt("reading the next entry");
  in_tmp.reset();
  for (const auto& [path, d] : declared)
    if (!d.seen) throw error("the archive {} is truncated or incomplete: {} is missing", file, path);

  // Rewrite paths from the exporting host's to this one's.
  std::map<std::string, std::string> paths;  // exporting host's path -> ours
  auto ours = [&](const std::string& member) {
    if (member.empty()) return std::string();
    if (!declared.count(member)) throw error("the archive's manifest names {}, which it does not hold", member);
    return fs::absolute(dir).string() + "/" + member;  // the VMM does not run in the CLI's directory
  };
  VmRecord r;
  r.name = name;
  r.kernel = ours(field<std::string>(vm, "kernel", "the VM"));
  r.initrd = ours(vm.value("initrd", ""));
  paths[vm.value("original_kernel", "")] = r.kernel;
  if (!r.initrd.empty()) paths[vm.value("original_initrd", "")] = r.initrd;
  r.cmdline = field<std::string>(vm, "cmdline", "the VM");
  r.cpus = field<uint32_t>(vm, "cpus", "the VM");
  r.memory = field<uint64_t>(vm, "memory", "the VM");
  if (r.cpus < 1 || r.cpus > 32 || r.memory < (1 << 20)) throw error("the archive's VM has {} vCPUs and {} bytes of memory: out of range", r.cpus, r.memory);
  json devices = field<json>(vm, "devices", "the VM");
  if (!devices.is_object()) throw error("the archive's manifest is malformed: the VM's devices are not an object");
  std::vector<std::string> writable_tops;  // unpacked files that must hold the disk-only snapshots
  for (auto& d : devices["drives"]) {
    std::string member = field<std::string>(d, "path_on_host", "a drive");
    d["path_on_host"] = ours(member);
    if (!d.value("is_read_only", false)) writable_tops.push_back(tmp + "/" + member);
  }
  for (const auto& d : m.value("disks", json::array())) {
    auto files = field<std::vector<std::string>>(d, "files", "a disk");
    if (!files.empty()) paths[d.value("original_path", "")] = ours(files.front());
    for (const auto& f : files) ours(f);
    // Each backing file must be a member of the archive's disks/, checked
    // from the header before it is opened (never a file of this host).
    std::string cur = files.empty() ? "" : tmp + "/" + files.front();
    for (size_t depth = 0; !cur.empty(); ++depth) {
      auto info = block::image_info(cur, "", /*backing_chain=*/false).at(0);
      if (info.format != "qcow2") throw error("disk {} in the archive is not qcow2", cur.substr(tmp.size() + 1));
      if (info.backing_filename.empty()) break;
      std::string next = info.full_backing_filename;
      std::string rel = next.size() > tmp.size() && next.compare(0, tmp.size() + 1, tmp + "/") == 0
                            ? next.substr(tmp.size() + 1) : "";
      if (rel.empty() || rel.rfind("disks/", 0) != 0 || !declared.count(rel) || depth >= files.size() ||
          fs::is_symlink(next))
        throw error("disk {} in the archive has a backing file outside the archive ({}): refusing it", files.front(),
                    info.backing_filename);
      check_member_path(rel);
      cur = next;
    }
  }
  r.devices = devices.dump();
  r.api_socket = dir + "/api.sock";
  r.console_socket = dir + "/console.sock";
  r.log_path = dir + "/console.log";
  r.created_at = vm.value("created_at", int64_t{0});

  std::vector<SnapshotRecord> snaps;
  paths.erase("");
  for (const auto& s : m.value("snapshots", json::array())) {
    SnapshotRecord sr;
    sr.vm = name;
    sr.name = field<std::string>(s, "name", "a snapshot");
    check_vm_name(sr.name);
    std::string state = field<std::string>(s, "state", sr.name), memory = field<std::string>(s, "memory", sr.name);
    ours(state);
    ours(memory);
    sr.memory = field<uint64_t>(s, "memory_size", sr.name);
    if (declared[memory].size != sr.memory) throw error("snapshot {}'s memory file is not {} bytes as recorded", sr.name, sr.memory);
    sr.created_at = s.value("created_at", int64_t{0});
    try {
      rewrite_snapshot_config(tmp + "/" + state, paths);
    } catch (const Error& err) {
      throw error("snapshot {} in the archive is not usable: {}", sr.name, err.what());
    }
    sr.state_path = ours(state);
    sr.memory_path = ours(memory);
    snaps.push_back(sr);
    res.snapshots.push_back(sr.name);
  }
  // Disk-only snapshots: records of internal snapshots the disks must hold
  // (checked, the disks having been checked as qcow2 inside the archive above).
  for (const auto& s : m.value("disk_snapshots", json::array())) {
    SnapshotRecord sr;
    sr.vm = name;
    sr.kind = "disk";
    sr.name = field<std::string>(s, "name", "a disk snapshot");
    check_vm_name(sr.name);
    sr.created_at = s.value("created_at", int64_t{0});
    for (const auto& other : snaps)
      if (other.name == sr.name) throw error("the archive's manifest lists snapshot {} twice", sr.name);
    if (writable_tops.empty()) throw error("the archive's disk snapshot {} belongs to a VM without writable disks", sr.name);
    for (const auto& top : writable_tops)
      if (!vmm::has_internal_snapshot(top, sr.name))
        throw error("the archive's disk snapshot {} is not in its disk {}: the archive is corrupt", sr.name,
                    top.substr(tmp.size() + 1));
    snaps.push_back(sr);
    res.snapshots.push_back(sr.name);
  }

  VmLock lock(dir + ".lock");
  if (fs::exists(dir))
    throw error("{} exists without a VM record (left by a crash?): remove it, or import under another name", dir);
  // The rename happens inside the transaction: a crash before the commit
  // leaves a directory without a record (never a record without files).
  store_.insert_with_snapshots(r, snaps, [&] {
    fs::rename(tmp, dir);
    cleanup.path = dir;  // undone if the commit fails
  });
  cleanup.path.clear();
  if (progress) progress(1.0);
  return res;
}

}  // namespace insula::manager
