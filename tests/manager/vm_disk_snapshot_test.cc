// `insula vm snapshot NAME SNAP --disk-only` end to end with a temporary
// state directory and two small qcow2 disks written through the block layer:
// snapshot, change the data, restore, the data is back; qemu-img lists the
// internal snapshots and checks the images clean; a failure on the second
// disk leaves nothing on the first and no record; refusals (running VM, raw
// disk, unknown snapshot) change nothing. With KVM: disk-only snapshots of a
// running VM, and full snapshots whose disk part the guest kit's diskcount
// (a counter in memory and on disk) checks across a restore. Also: an old database without the
// snapshots.kind column opens and its snapshots read as full ones.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>

#include "block/block_device.h"
#include "block/image_ops.h"
#include "manager/vm_store.h"
#include "run_cli.h"
#include "vm_cli_fixture.h"
#include "vmm_fixture.h"

namespace insula::testing {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
namespace fs = std::filesystem;

class VmDiskSnapshot : public VmCliTest {
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
  // qemu-img's view: the snapshot names in the file, and whether check is clean.
  std::string qemu_snapshots(const std::string& path) {
    return run({"qemu-img", "snapshot", "-U", "-l", path}).out;  // -U: a running VMM may have it open
  }
  void qemu_check_clean(const std::string& path) {
    auto r = run({"qemu-img", "check", path});
    EXPECT_EQ(r.status, 0) << r.out << r.err;
  }
  std::string state(const std::string& name) {
    return json::parse(vm({"info", name, "--output", "json"}).out)["state"].get<std::string>();
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
  std::string a_, b_;
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
  // Zero the refcount of b's data cluster (where qemu-img map says guest
  // offset 0 lives; the file may end in zeroed clusters not in use): b is then
  // inconsistent and refuses a snapshot, after a already has one.
  uint64_t data_host = 0;
  for (const auto& e : json::parse(run({"qemu-img", "map", "--output=json", b_}).out))
    if (e.value("data", false) && e.contains("offset")) {
      data_host = e["offset"].get<uint64_t>();
      break;
    }
  ASSERT_NE(data_host, 0u);
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
    f.seekp(static_cast<std::streamoff>(block + data_host / cluster_size * 2));
    f.write("\0\0", 2);
  }
  create("f", {a_, b_});
  refused({"snapshot", "f", "s", "--disk-only"}, "metadata has");
  EXPECT_EQ(snapshots("f").size(), 0u);
  EXPECT_EQ(qemu_snapshots(a_).find("s"), std::string::npos) << qemu_snapshots(a_);
  qemu_check_clean(a_);
}

TEST_F(VmDiskSnapshot, RunningVmIsSnapshottedButNotReverted) {
  if (!have_kvm()) GTEST_SKIP() << "/dev/kvm is not available here";
  create("v", {a_});
  ok({"start", "v"});
  refused({"snapshot", "v", "s", "--disk-only", "--keep-paused"}, "excludes");
  ok({"snapshot", "v", "s", "--disk-only"});  // taken by the VMM, which has the disk open
  EXPECT_EQ(state("v"), "running");
  refused({"restore", "v", "s"}, "Stop it");
  ok({"kill", "v"});
  EXPECT_EQ(snapshots("v").size(), 1u);
  EXPECT_NE(qemu_snapshots(a_).find(" s "), std::string::npos) << qemu_snapshots(a_);
  qemu_check_clean(a_);
}

// The guest kit's diskcount keeps a counter in memory and in sector 0 of its
// first disk, and prints MISMATCH when the two disagree.
class VmFullSnapshotDisks : public VmDiskSnapshot {
 protected:
  void SetUp() override {
    VmDiskSnapshot::SetUp();
    c_ = make_qcow2("c.qcow2");
  }
  void create_counter(const std::string& name, const std::vector<std::string>& more_disks = {}) {
    std::vector<std::string> args{"create", name, "--kernel", GUEST_KIT_DIR "/diskcount-pvh.elf", "--cmdline",
                                  "period_ms=20", "--memory", "32M", "--disk", c_};
    for (const auto& d : more_disks) args.insert(args.end(), {"--disk", d});
    ok(args);
  }
  std::vector<uint64_t> counts(const std::string& name) {
    std::string log = vm({"logs", name}).out;
    return insula::testing::printed_counts(log, "diskcount");
  }
  void wait_counts(const std::string& name, size_t n) {
    ASSERT_TRUE(wait_until([&] { return counts(name).size() >= n; }, 20s)) << vm({"logs", name}).out;
  }
  // The count in sector 0 (read-only: a running VMM may own the file).
  uint64_t disk_count(const std::string& path) {
    std::string s = read(path, 40);
    uint64_t n = 0;
    std::memcpy(&n, s.data() + 32, sizeof n);
    return n;
  }
  std::string c_;
};

TEST_F(VmFullSnapshotDisks, RestoreBringsDisksBackWithMemory) {
  if (!have_kvm()) GTEST_SKIP() << "/dev/kvm is not available here";
  create_counter("g", {a_});
  ok({"start", "g"});
  wait_counts("g", 3);
  ok({"snapshot", "g", "s1", "--keep-paused"});
  std::string log_at_s1 = insula::testing::settled([&] { return vm({"logs", "g"}).out; });
  uint64_t at_s1 = insula::testing::printed_counts(log_at_s1, "diskcount").back();
  for (const auto& p : {c_, a_}) EXPECT_NE(qemu_snapshots(p).find(" s1 "), std::string::npos) << p;
  EXPECT_EQ(snapshots("g")[0]["kind"], "full");
  ok({"resume", "g"});
  size_t n = counts("g").size();
  wait_counts("g", n + 5);  // the guest writes on past the snapshot

  // The untouched second disk is changed while the VM is stopped, too.
  ok({"kill", "g"});
  EXPECT_GT(disk_count(c_), at_s1 + 3);
  write(a_, "disk a, later");
  n = counts("g").size();
  ok({"restore", "g", "s1"});
  EXPECT_EQ(state("g"), "running");
  EXPECT_EQ(read(a_), "disk a, first");
  wait_counts("g", n + 3);
  auto after = counts("g");
  // at_s1 + 2 when the snapshot caught "diskcount: N" half printed: the
  // restored guest then prints only the rest of that line.
  EXPECT_TRUE(after[n] == at_s1 + 1 || after[n] == at_s1 + 2)
      << "the restored guest did not continue from the snapshot: " << after[n] << " after " << at_s1;
  std::string log = vm({"logs", "g"}).out;
  EXPECT_EQ(log.find("MISMATCH"), std::string::npos) << "the restored guest's disk disagrees with its memory:\n" << log;

  // snapshot-rm of a running VM deletes the disk part through its VMM.
  ok({"snapshot-rm", "g", "s1"});
  for (const auto& p : {c_, a_}) EXPECT_EQ(qemu_snapshots(p).find(" s1 "), std::string::npos) << p;
  ok({"kill", "g"});
  for (const auto& p : {c_, a_}) qemu_check_clean(p);
}

TEST_F(VmFullSnapshotDisks, DiskOnlySnapshotOfARunningVm) {
  if (!have_kvm()) GTEST_SKIP() << "/dev/kvm is not available here";
  create_counter("g");
  ok({"start", "g"});
  wait_counts("g", 3);
  ok({"snapshot", "g", "d1", "--disk-only"});
  EXPECT_EQ(state("g"), "running");
  size_t n = counts("g").size();
  wait_counts("g", n + 3);  // it went on after the snapshot
  ok({"kill", "g"});
  qemu_check_clean(c_);
  ok({"restore", "g", "d1"});
  // Flushed and drained: the disk holds a count the guest had finished writing.
  uint64_t k = disk_count(c_);
  auto all = counts("g");
  EXPECT_GE(k, 1u);
  EXPECT_NE(std::find(all.begin(), all.end(), k), all.end()) << k;
  EXPECT_LT(k, all.back());
  qemu_check_clean(c_);
  ok({"start", "g"});
  ok({"snapshot-rm", "g", "d1"});  // through the VMM
  EXPECT_EQ(qemu_snapshots(c_).find(" d1 "), std::string::npos);
  ok({"kill", "g"});
  qemu_check_clean(c_);
}

TEST_F(VmFullSnapshotDisks, RefusalsChangeNothing) {
  if (!have_kvm()) GTEST_SKIP() << "/dev/kvm is not available here";
  // A writable raw disk cannot be part of a snapshot: refused, the VM runs on.
  std::string raw = dir_.path() + "/r.raw";
  {
    std::ofstream out(raw, std::ios::binary);
  }
  fs::resize_file(raw, 1 << 20);
  create_counter("g", {raw});
  ok({"start", "g"});
  wait_counts("g", 2);
  refused({"snapshot", "g", "s"}, "raw image");
  EXPECT_EQ(state("g"), "running");
  EXPECT_EQ(snapshots("g").size(), 0u);
  EXPECT_FALSE(fs::exists(dir_.path() + "/state/vms/g/snapshots/s"));
  EXPECT_EQ(qemu_snapshots(c_).find(" s "), std::string::npos);
  ok({"rm", "g", "--force"});

  create_counter("h");
  ok({"start", "h"});
  wait_counts("h", 2);
  // Two snapshots of one name at once: one is made, the other refused.
  Result r1, r2;
  std::thread t([&] { r1 = vm({"snapshot", "h", "s2"}); });
  r2 = vm({"snapshot", "h", "s2"});
  t.join();
  EXPECT_EQ((r1.status == 0) + (r2.status == 0), 1) << r1.err << r2.err;
  EXPECT_NE((r1.err + r2.err).find("already has a snapshot named s2"), std::string::npos) << r1.err << r2.err;
  std::string list = qemu_snapshots(c_);
  EXPECT_EQ(list.find(" s2 "), list.rfind(" s2 ")) << list;

  // Its disk part deleted behind insula's back: restore refused, the VM untouched.
  ok({"kill", "h"});
  ASSERT_EQ(run({"qemu-img", "snapshot", "-d", "s2", c_}).status, 0);
  ok({"start", "h"});
  auto pid = json::parse(vm({"info", "h", "--output", "json"}).out)["pid"];
  refused({"restore", "h", "s2"}, "disk part is missing");
  EXPECT_EQ(state("h"), "running");
  EXPECT_EQ(json::parse(vm({"info", "h", "--output", "json"}).out)["pid"], pid);
  EXPECT_EQ(snapshots("h").size(), 1u);
  ok({"snapshot-rm", "h", "s2"});  // the disk part already gone: the record still goes
  EXPECT_EQ(snapshots("h").size(), 0u);

  // An internal snapshot insula has no record of: refused, nothing recorded.
  ok({"kill", "h"});
  ASSERT_EQ(run({"qemu-img", "snapshot", "-c", "s3", c_}).status, 0);
  ok({"start", "h"});
  refused({"snapshot", "h", "s3"}, "already has an internal snapshot named s3");
  EXPECT_EQ(state("h"), "running");
  EXPECT_EQ(snapshots("h").size(), 0u);
  ok({"kill", "h"});
  qemu_check_clean(c_);
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
