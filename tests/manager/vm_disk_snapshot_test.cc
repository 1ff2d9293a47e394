// `insula vm snapshot NAME SNAP --disk-only` end to end with a temporary
// state directory and two small qcow2 disks written through the block layer:
// snapshot, change the data, restore, the data is back; qemu-img lists the
// internal snapshots and checks the images clean; a failure on the second
// disk leaves nothing on the first and no record; refusals (running VM, raw
// disk, unknown snapshot) change nothing. Also: an old database without the
// snapshots.kind column opens and its snapshots read as full ones.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <filesystem>
#include <fstream>

#include "block/block_device.h"
#include "block/image_ops.h"
#include "manager/vm_store.h"
#include "run_cli.h"
#include "vmm_fixture.h"

namespace insula::testing {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

class VmDiskSnapshot : public ::testing::Test {
 protected:
  void SetUp() override {
    state_ = dir_.path() + "/state";
    a_ = make_qcow2("a.qcow2");
    b_ = make_qcow2("b.qcow2");
    write(a_, "disk a, first");
    write(b_, "disk b, first");
  }
  std::string make_qcow2(const std::string& name) {
    block::CreateRequest req;
    req.path = dir_.path() + "/" + name;
    req.format = "qcow2";
    req.size = 4 << 20;
    block::create_image(req);
    return req.path;
  }
  void write(const std::string& path, const std::string& data) {
    auto dev = block::open_image(path);
    dev->write(0, {reinterpret_cast<const uint8_t*>(data.data()), data.size()});
    dev->flush();
  }
  std::string read(const std::string& path, size_t n = 13) {
    block::OpenOptions ro;
    ro.read_only = true;
    auto dev = block::open_image(path, ro);
    std::string s(n, '\0');
    dev->read(0, {reinterpret_cast<uint8_t*>(s.data()), n});
    return s;
  }
  Result vm(std::vector<std::string> args) { return run_vm_cli(state_, args); }
  void ok(std::vector<std::string> args) {
    auto r = vm(args);
    ASSERT_EQ(r.status, 0) << r.err;
  }
  void refused(std::vector<std::string> args, const std::string& what) {
    auto r = vm(args);
    EXPECT_NE(r.status, 0) << r.out;
    EXPECT_NE(r.err.find(what), std::string::npos) << r.err;
  }
  // qemu-img's view: the snapshot names in the file, and whether check is clean.
  std::string qemu_snapshots(const std::string& path) {
    return run({"qemu-img", "snapshot", "-l", path}).out;
  }
  void qemu_check_clean(const std::string& path) {
    auto r = run({"qemu-img", "check", path});
    EXPECT_EQ(r.status, 0) << r.out << r.err;
  }
  json snapshots(const std::string& name) {
    auto r = vm({"snapshots", name, "--output", "json"});
    EXPECT_EQ(r.status, 0) << r.err;
    return json::parse(r.out);
  }
  void create(const std::string& name, const std::vector<std::string>& disks) {
    std::vector<std::string> args{"create", name, "--kernel", test_guest("ticker_pvh.elf"), "--memory", "32M"};
    for (const auto& d : disks) args.insert(args.end(), {"--disk", d});
    ok(args);
  }
  TempDir dir_;
  std::string state_, a_, b_;
};

TEST_F(VmDiskSnapshot, SnapshotChangeRestoreRemove) {
  create("d", {a_, b_});
  ok({"snapshot", "d", "s1", "--disk-only"});
  for (const auto& p : {a_, b_}) {
    EXPECT_NE(qemu_snapshots(p).find("s1"), std::string::npos) << p;
    qemu_check_clean(p);
  }
  auto list = snapshots("d");
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0]["name"], "s1");
  EXPECT_EQ(list[0]["kind"], "disk");
  EXPECT_NE(vm({"snapshots", "d"}).out.find("disk"), std::string::npos);
  refused({"snapshot", "d", "s1", "--disk-only"}, "already has a snapshot named s1");
  refused({"snapshot", "d", "s2", "--disk-only", "--keep-paused"}, "excludes");

  write(a_, "disk a, later");
  write(b_, "disk b, later");
  ok({"restore", "d", "s1"});
  EXPECT_EQ(read(a_), "disk a, first");
  EXPECT_EQ(read(b_), "disk b, first");
  EXPECT_EQ(json::parse(vm({"info", "d", "--output", "json"}).out)["state"], "stopped");
  qemu_check_clean(a_);

  refused({"restore", "d", "nope"}, "no snapshot named nope");
  // Deleted behind insula's back on one disk: refused before any disk is reverted.
  write(a_, "disk a, third");
  ASSERT_EQ(run({"qemu-img", "snapshot", "-d", "s1", b_}).status, 0);
  refused({"restore", "d", "s1"}, "has no internal snapshot named s1");
  EXPECT_EQ(read(a_), "disk a, third");

  ok({"snapshot-rm", "d", "s1"});
  EXPECT_EQ(snapshots("d").size(), 0u);
  EXPECT_EQ(qemu_snapshots(a_).find("s1"), std::string::npos);
  qemu_check_clean(a_);
  qemu_check_clean(b_);
  refused({"snapshot-rm", "d", "s1"}, "no snapshot named s1");

  // A disk that is gone does not pin the record: removed, and the disk named.
  ok({"snapshot", "d", "s2", "--disk-only"});
  fs::remove(b_);
  refused({"snapshot-rm", "d", "s2"}, "could not be opened");
  EXPECT_EQ(snapshots("d").size(), 0u);
  EXPECT_EQ(qemu_snapshots(a_).find("s2"), std::string::npos);
}

TEST_F(VmDiskSnapshot, RawDiskIsRefused) {
  std::string raw = dir_.path() + "/r.raw";
  {
    std::ofstream out(raw, std::ios::binary);
  }
  fs::resize_file(raw, 1 << 20);
  create("r", {a_, raw});
  refused({"snapshot", "r", "s", "--disk-only"}, "Convert it");
  EXPECT_EQ(snapshots("r").size(), 0u);
  EXPECT_EQ(qemu_snapshots(a_).find("s"), std::string::npos);
}

TEST_F(VmDiskSnapshot, FailureOnOneDiskUndoesTheOthers) {
  // Zero the refcount of b's last cluster (its data): b is then inconsistent
  // and refuses a snapshot, after a already has one.
  {
    std::fstream f(b_, std::ios::in | std::ios::out | std::ios::binary);
    auto be64 = [&](uint64_t off) {
      uint8_t v[8];
      f.seekg(static_cast<std::streamoff>(off));
      f.read(reinterpret_cast<char*>(v), 8);
      uint64_t x = 0;
      for (uint8_t c : v) x = x << 8 | c;
      return x;
    };
    uint64_t cluster_size = uint64_t{1} << (be64(20) >> 32);
    uint64_t block = be64(be64(48));  // refcount table offset -> first refcount block (16-bit entries)
    uint64_t last = fs::file_size(b_) / cluster_size - 1;
    f.seekp(static_cast<std::streamoff>(block + last * 2));
    f.write("\0\0", 2);
  }
  create("f", {a_, b_});
  refused({"snapshot", "f", "s", "--disk-only"}, "metadata has");
  EXPECT_EQ(snapshots("f").size(), 0u);
  EXPECT_EQ(qemu_snapshots(a_).find("s"), std::string::npos) << qemu_snapshots(a_);
  qemu_check_clean(a_);
}

TEST_F(VmDiskSnapshot, RunningVmIsRefused) {
  if (!have_kvm()) GTEST_SKIP() << "/dev/kvm is not available here";
  create("v", {a_});
  ok({"start", "v"});
  refused({"snapshot", "v", "s", "--disk-only"}, "Stop it");
  ok({"kill", "v"});
  ok({"snapshot", "v", "s", "--disk-only"});
  ok({"start", "v"});
  refused({"restore", "v", "s"}, "Stop it");
  refused({"snapshot-rm", "v", "s"}, "Stop it");
  ok({"kill", "v"});
  EXPECT_EQ(snapshots("v").size(), 1u);
}

TEST(VmStoreMigration, OldSnapshotsTableGetsKind) {
  TempDir dir;
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((dir.path() + "/insula.db").c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db,
                         "CREATE TABLE snapshots (vm TEXT NOT NULL, name TEXT NOT NULL, state_path TEXT NOT NULL,"
                         " memory_path TEXT NOT NULL, memory INTEGER NOT NULL, created_at INTEGER NOT NULL,"
                         " PRIMARY KEY (vm, name));"
                         "INSERT INTO snapshots VALUES ('v', 'old', '/s', '/m', 1048576, 1);",
                         nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  manager::VmStore store(dir.path());
  auto s = store.get_snapshot("v", "old");
  ASSERT_TRUE(s);
  EXPECT_EQ(s->kind, "full");
  EXPECT_EQ(s->memory, 1048576u);
}

}  // namespace
}  // namespace insula::testing
