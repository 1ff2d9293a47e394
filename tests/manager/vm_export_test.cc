// `insula vm export` / `insula vm import` end to end with temporary state
// directories: a VM with a qcow2 chain and a sparse raw disk goes through an
// archive into a second state dir and starts there with byte-identical
// disks; a snapshot exported with it continues the guest kit's counter in
// the other state dir; a disk-only snapshot travels with its record (not
// through --flatten); hostile and truncated archives (one claiming a disk
// snapshot its disk lacks too) are refused with nothing recorded and nothing
// left behind.
#include <archive.h>
#include <archive_entry.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "run_cli.h"
#include "vmm_fixture.h"

namespace insula::testing {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
namespace fs = std::filesystem;

// One tar entry as a hostile archive might hold it.
struct Entry {
  Entry(std::string p, std::string d = {}, unsigned t = AE_IFREG, std::string l = {})
      : path(std::move(p)), data(std::move(d)), type(t), link(std::move(l)) {}
  std::string path;
  std::string data;
  unsigned type = AE_IFREG;
  std::string link;             // symlink target or hardlink
  int64_t declared_size = -1;   // the header's size, when it lies
};

void write_tar(const std::string& file, const std::vector<Entry>& entries) {
  archive* a = archive_write_new();
  archive_write_set_format_pax_restricted(a);
  ASSERT_EQ(archive_write_open_filename(a, file.c_str()), ARCHIVE_OK);
  for (const auto& e : entries) {
    archive_entry* en = archive_entry_new();
    archive_entry_set_pathname(en, e.path.c_str());
    archive_entry_set_perm(en, 0644);
    if (e.type == AE_IFLNK) {
      archive_entry_set_filetype(en, AE_IFLNK);
      archive_entry_set_symlink(en, e.link.c_str());
    } else if (!e.link.empty()) {
      archive_entry_set_filetype(en, AE_IFREG);
      archive_entry_set_hardlink(en, e.link.c_str());
    } else {
      archive_entry_set_filetype(en, e.type);
      archive_entry_set_size(en, e.type == AE_IFREG ? (e.declared_size >= 0 ? e.declared_size : int64_t(e.data.size())) : 0);
    }
    archive_write_header(a, en);
    if (e.type == AE_IFREG && e.link.empty()) archive_write_data(a, e.data.data(), e.data.size());
    archive_entry_free(en);
  }
  archive_write_close(a);
  archive_write_free(a);
}

std::vector<Entry> read_tar(const std::string& file) {
  std::vector<Entry> out;
  archive* a = archive_read_new();
  archive_read_support_filter_all(a);
  archive_read_support_format_tar(a);
  EXPECT_EQ(archive_read_open_filename(a, file.c_str(), 1 << 16), ARCHIVE_OK);
  archive_entry* e;
  while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
    Entry en{archive_entry_pathname(e), std::string(archive_entry_size(e), '\0')};
    archive_read_data(a, en.data.data(), en.data.size());
    out.push_back(en);
  }
  archive_read_free(a);
  return out;
}

std::string slurp(const std::string& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

class VmExport : public ::testing::Test {
 protected:
  Result vm(const TempDir& d, std::vector<std::string> args) { return run_vm_cli(d.path(), args, {}, 120); }
  Result img(std::vector<std::string> args) {
    args.insert(args.begin(), {insula_binary(), "img"});
    return run(args, {}, 60);
  }
  std::vector<uint64_t> counts(const TempDir& d, const std::string& name) {
    std::string log = vm(d, {"logs", name}).out;
    return insula::testing::printed_counts(log, "counter");
  }
  // Nothing recorded and no temporary directory left in the target.
  void expect_untouched(const TempDir& d) {
    auto list = vm(d, {"list", "--output", "json"});
    EXPECT_EQ(json::parse(list.out).size(), 0u) << list.out;
    if (fs::exists(d.path() + "/vms"))
      for (const auto& e : fs::directory_iterator(d.path() + "/vms"))
        ADD_FAILURE() << "left behind: " << e.path();
  }
  std::string counter() { return GUEST_KIT_DIR "/counter-pvh.elf"; }
  TempDir src_, dst_, files_;
};

TEST_F(VmExport, DisksSurviveExportImportAndTheVmStarts) {
  std::string f = files_.path();
  // A base with data at 1 MiB and 40 MiB, an overlay that changes the first,
  // and a 64 MiB raw disk with 4 KiB of data (sparse).
  {
    std::ofstream raw(f + "/base.raw", std::ios::binary);
    raw.seekp(1 << 20);
    raw << std::string(4096, 'A');
    raw.seekp(40 << 20);
    raw << std::string(4096, 'B');
  }
  fs::resize_file(f + "/base.raw", 64 << 20);
  ASSERT_EQ(img({"convert", "-f", "raw", "-O", "qcow2", f + "/base.raw", f + "/base.qcow2"}).status, 0);
  auto r = img({"create", "-f", "qcow2", "-b", f + "/base.qcow2", "-F", "qcow2", f + "/top.qcow2"});
  ASSERT_EQ(r.status, 0) << r.err;
  fs::copy_file(f + "/base.raw", f + "/data.raw");

  r = vm(src_, {"create", "d", "--kernel", counter(), "--cmdline", "period_ms=20", "--memory", "32M", "--disk",
                f + "/top.qcow2", "--disk", f + "/data.raw,ro"});
  ASSERT_EQ(r.status, 0) << r.err;
  // A disk-only snapshot (inside top.qcow2) travels with its record.
  r = vm(src_, {"snapshot", "d", "ds", "--disk-only"});
  ASSERT_EQ(r.status, 0) << r.err;
  r = vm(src_, {"export", "d", f + "/d.tar", "--output", "json", "-p"});
  ASSERT_EQ(r.status, 0) << r.err;
  auto summary = json::parse(r.out);
  EXPECT_EQ(summary["disks"].size(), 2u);
  EXPECT_EQ(summary["snapshots"], json::array({"ds"}));
  EXPECT_NE(r.err.find("100.00/100%"), std::string::npos) << r.err;
  // The 64 MiB sparse raw disk went in as qcow2: the archive stays small.
  EXPECT_LT(fs::file_size(f + "/d.tar"), 8u << 20);
  EXPECT_FALSE(fs::exists(f + "/d.tar.partial"));

  r = vm(dst_, {"import", f + "/d.tar", "d2", "--output", "json"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(json::parse(r.out)["vm"], "d2");
  auto info = json::parse(vm(dst_, {"info", "d2", "--output", "json"}).out);
  auto drives = info["devices"]["drives"];
  ASSERT_EQ(drives.size(), 2u);
  std::string d0 = drives[0]["path_on_host"], d1 = drives[1]["path_on_host"];
  EXPECT_EQ(d0, dst_.path() + "/vms/d2/disks/disk0.0.qcow2");
  EXPECT_EQ(drives[1]["is_read_only"], true);
  EXPECT_EQ(fs::path(info["kernel"].get<std::string>()).parent_path(), dst_.path() + "/vms/d2/boot");
  // The chain was kept, the backing named relatively.
  auto chain = img({"info", "--output", "json", d0});
  EXPECT_EQ(json::parse(chain.out)["backing-filename"], "disk0.1.qcow2") << chain.out;
  for (auto [a, b] : {std::pair{f + "/top.qcow2", d0}, std::pair{f + "/data.raw", d1}}) {
    r = img({"compare", a, b});
    EXPECT_EQ(r.status, 0) << a << " vs " << b << ": " << r.out << r.err;
  }
  auto snaps = json::parse(vm(dst_, {"snapshots", "d2", "--output", "json"}).out);
  ASSERT_EQ(snaps.size(), 1u) << snaps;
  EXPECT_EQ(snaps[0]["kind"], "disk");
  r = vm(dst_, {"restore", "d2", "ds"});
  EXPECT_EQ(r.status, 0) << r.err;
  // Flattened: one image per disk, same content.
  r = vm(src_, {"export", "d", f + "/flat.tar.zst", "--flatten", "--output", "json"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(json::parse(r.out)["skipped_snapshots"], json::array({"ds"})) << "flattening drops internal snapshots";
  r = vm(dst_, {"import", f + "/flat.tar.zst", "flat"});
  ASSERT_EQ(r.status, 0) << r.err;
  std::string flat0 = dst_.path() + "/vms/flat/disks/disk0.qcow2";
  EXPECT_TRUE(json::parse(img({"info", "--output", "json", flat0}).out).value("backing-filename", "").empty());
  EXPECT_EQ(img({"compare", f + "/top.qcow2", flat0}).status, 0);
  EXPECT_EQ(json::parse(vm(dst_, {"snapshots", "flat", "--output", "json"}).out).size(), 0u);

  if (!have_kvm()) GTEST_SKIP() << "/dev/kvm is not available here: not starting the imported VM";
  r = vm(dst_, {"start", "d2"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(wait_until([&] { return counts(dst_, "d2").size() >= 2; }, 10s)) << vm(dst_, {"logs", "d2"}).out;
  vm(dst_, {"kill", "d2"});
}

TEST_F(VmExport, ASnapshotContinuesInTheOtherStateDir) {
  if (!have_kvm()) GTEST_SKIP() << "/dev/kvm is not available here";
  auto r = vm(src_, {"create", "c", "--kernel", counter(), "--cmdline", "period_ms=20", "--memory", "32M"});
  ASSERT_EQ(r.status, 0) << r.err;
  ASSERT_EQ(vm(src_, {"start", "c"}).status, 0);
  ASSERT_TRUE(wait_until([&] { return counts(src_, "c").size() >= 3; }, 10s));
  ASSERT_EQ(vm(src_, {"snapshot", "c", "s1", "--keep-paused"}).status, 0);
  std::string log_at_s1 = insula::testing::settled([&] { return vm(src_, {"logs", "c"}).out; });
  uint64_t at_s1 = insula::testing::printed_counts(log_at_s1, "counter").back();

  // Exporting the live (paused) VM takes a temporary full snapshot too.
  std::string file = files_.path() + "/c.tar";  // plain: holes must stay holes without compression
  r = vm(src_, {"export", "c", file, "--output", "json"});
  ASSERT_EQ(r.status, 0) << r.err;
  auto summary = json::parse(r.out);
  std::string live_snap = summary["running_snapshot"];
  EXPECT_FALSE(live_snap.empty());
  EXPECT_EQ(summary["snapshots"].size(), 2u);
  // Two 32 MiB memory files, mostly holes, stored as sparse entries.
  EXPECT_LT(fs::file_size(file), 8u << 20);
  // The temporary snapshot is gone from the source, the VM still paused.
  EXPECT_EQ(json::parse(vm(src_, {"snapshots", "c", "--output", "json"}).out).size(), 1u);
  EXPECT_EQ(json::parse(vm(src_, {"info", "c", "--output", "json"}).out)["state"], "paused");

  // A running VM: paused for the export, running again afterwards.
  ASSERT_EQ(vm(src_, {"resume", "c"}).status, 0);
  std::string running = files_.path() + "/running.tar";
  r = vm(src_, {"export", "c", running, "--output", "json"});
  ASSERT_EQ(r.status, 0) << r.err;
  std::string running_snap = json::parse(r.out)["running_snapshot"];
  EXPECT_EQ(json::parse(vm(src_, {"info", "c", "--output", "json"}).out)["state"], "running");
  vm(src_, {"kill", "c"});
  uint64_t last = counts(src_, "c").back();
  ASSERT_EQ(vm(dst_, {"import", running, "live"}).status, 0);
  ASSERT_EQ(vm(dst_, {"restore", "live", running_snap}).status, 0);
  ASSERT_TRUE(wait_until([&] { return !counts(dst_, "live").empty(); }, 10s));
  uint64_t first = counts(dst_, "live").front();
  EXPECT_GT(first, at_s1 + 1);
  EXPECT_LE(first, last + 1) << "the live export's snapshot is later than the source's last count";
  vm(dst_, {"kill", "live"});

  r = vm(dst_, {"import", file});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(json::parse(vm(dst_, {"snapshots", "c", "--output", "json"}).out).size(), 2u);
  r = vm(dst_, {"restore", "c", "s1"});
  ASSERT_EQ(r.status, 0) << r.err;
  ASSERT_TRUE(wait_until([&] { return counts(dst_, "c").size() >= 2; }, 10s)) << vm(dst_, {"logs", "c"}).out;
  // Read across the snapshot: the pause can land inside a line ("counter: 4"
  // printed, "5\r\n" not yet), whose rest is the restored VM's first output
  // (seen in the test host: the first whole line there was at_s1 + 2).
  std::string dst_log = vm(dst_, {"logs", "c"}).out;
  EXPECT_EQ(insula::testing::count_after(log_at_s1, dst_log, "counter", at_s1), at_s1 + 1)
      << "the imported snapshot did not continue the count\n" << dst_log;
  r = vm(dst_, {"restore", "c", live_snap});
  ASSERT_EQ(r.status, 0) << r.err;
  vm(dst_, {"kill", "c"});
}

TEST_F(VmExport, HostileAndTruncatedArchivesAreRefused) {
  auto r = vm(src_, {"create", "h", "--kernel", counter(), "--memory", "32M"});
  ASSERT_EQ(r.status, 0) << r.err;
  std::string good = files_.path() + "/good.tar";
  ASSERT_EQ(vm(src_, {"export", "h", good}).status, 0);
  auto entries = read_tar(good);
  ASSERT_EQ(entries.size(), 2u);  // manifest.json, boot/kernel
  json manifest = json::parse(entries[0].data);

  int n = 0;
  auto refused = [&](std::vector<Entry> es, const std::string& why) {
    std::string file = files_.path() + "/bad" + std::to_string(n++) + ".tar";
    write_tar(file, es);
    auto res = vm(dst_, {"import", file});
    EXPECT_NE(res.status, 0) << why;
    EXPECT_NE(res.err.find(why), std::string::npos) << res.err;
    expect_untouched(dst_);
  };
  auto with_manifest = [&](const json& m, std::vector<Entry> rest) {
    rest.insert(rest.begin(), Entry{"manifest.json", m.dump()});
    return rest;
  };
  auto listing = [&](const std::string& path, const std::string& data) {
    json m = manifest;
    m["files"].push_back({{"path", path}, {"size", data.size()}, {"sha256", ""}});
    return m;
  };
  Entry kernel = entries[1];
  refused(with_manifest(listing("/etc/evil", "x"), {kernel, {"/etc/evil", "x"}}), "not a plain relative path");
  refused(with_manifest(manifest, {kernel, {"../evil", "x"}}), "not a plain relative path");
  refused(with_manifest(manifest, {kernel, {"boot/a/../../../evil", "x"}}), "not a plain relative path");
  refused(with_manifest(listing("boot/link", ""), {kernel, {"boot/link", "", AE_IFLNK, "/etc/passwd"}}),
          "not a regular file");
  refused(with_manifest(listing("boot/hard", ""), {kernel, {"boot/hard", "", AE_IFREG, "boot/kernel"}}),
          "not a regular file");
  refused(with_manifest(listing("boot/dev", ""), {kernel, {"boot/dev", "", AE_IFCHR}}), "not a regular file");
  refused(with_manifest(manifest, {kernel, {"boot/extra", "x"}}), "not in the manifest");
  Entry big = kernel;
  big.data += "more";
  refused(with_manifest(manifest, {big}), "the manifest says");
  Entry flipped = kernel;
  flipped.data[100] ^= 1;
  refused(with_manifest(manifest, {flipped}), "SHA-256");
  json v2 = manifest;
  v2["format_version"] = 2;
  refused(with_manifest(v2, {kernel}), "format version 2");
  refused(with_manifest(manifest, {}), "is missing");
  refused({kernel, entries[0]}, "not an insula VM export");

  // A disk whose backing file lies outside the archive (here: on this host).
  std::string f = files_.path();
  ASSERT_EQ(img({"create", "-f", "qcow2", f + "/host.qcow2", "1M"}).status, 0);
  ASSERT_EQ(img({"create", "-f", "qcow2", "-b", f + "/host.qcow2", "-F", "qcow2", f + "/evil.qcow2"}).status, 0);
  std::string evil = slurp(f + "/evil.qcow2");
  json m = manifest;
  m["vm"]["devices"]["drives"] = json::array({{{"drive_id", "disk0"}, {"path_on_host", "disks/disk0.qcow2"},
                                              {"is_root_device", false}, {"is_read_only", false}}});
  m["disks"] = json::array({{{"drive_id", "disk0"}, {"original_path", "/x"}, {"files", {"disks/disk0.qcow2"}}}});
  m["files"].push_back({{"path", "disks/disk0.qcow2"}, {"size", evil.size()},
                        {"sha256", run({"sha256sum", f + "/evil.qcow2"}).out.substr(0, 64)}});
  refused(with_manifest(m, {kernel, {"disks/disk0.qcow2", evil}}), "backing file outside the archive");

  // A disk-only snapshot the manifest claims but the disk does not hold.
  ASSERT_EQ(img({"create", "-f", "qcow2", f + "/plain.qcow2", "1M"}).status, 0);
  std::string plain = slurp(f + "/plain.qcow2");
  m["files"].back() = {{"path", "disks/disk0.qcow2"}, {"size", plain.size()},
                       {"sha256", run({"sha256sum", f + "/plain.qcow2"}).out.substr(0, 64)}};
  m["disk_snapshots"] = json::array({{{"name", "ghost"}, {"created_at", 0}}});
  refused(with_manifest(m, {kernel, {"disks/disk0.qcow2", plain}}), "is not in its disk");

  // Truncated in the middle of the kernel.
  std::string cut = files_.path() + "/cut.tar";
  fs::copy_file(good, cut);
  fs::resize_file(cut, fs::file_size(good) / 2);
  r = vm(dst_, {"import", cut});
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("truncated"), std::string::npos) << r.err;
  expect_untouched(dst_);

  // A name that exists: the second import is refused, the first VM intact.
  ASSERT_EQ(vm(dst_, {"import", good}).status, 0);
  r = vm(dst_, {"import", good});
  EXPECT_NE(r.err.find("already exists"), std::string::npos) << r.err;
  EXPECT_EQ(json::parse(vm(dst_, {"list", "--output", "json"}).out).size(), 1u);
  EXPECT_EQ(vm(dst_, {"import", good, "h2"}).status, 0);
}

}  // namespace
}  // namespace insula::testing
