// Machine snapshot/restore on /dev/kvm with the guest kit's counter (LAPIC
// timer + serial): a restored machine continues the count where the snapshot
// was taken, not from 1; a truncated, corrupted or wrong-version snapshot is
// refused before the machine runs, and the files are left as they were.
// The disk part (qcow2 internal snapshots taken with the machine state) is
// reverted by restore only once every disk is known to have it.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include "base/error.h"
#include "base/state_file.h"
#include "block/image_ops.h"
#include "block/qcow2.h"
#include "run_cli.h"
#include "vmm/disk_snapshots.h"
#include "vmm/machine.h"

namespace insula::vmm {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

// Collects console output; counts "counter: N" lines.
class Console {
 public:
  void put(uint8_t c) {
    std::lock_guard lock(mu_);
    text_ += static_cast<char>(c);
  }
  std::string text() const {
    std::lock_guard lock(mu_);
    return text_;
  }
  // Every counter value printed, in order.
  std::vector<uint64_t> counts() const { return testing::printed_counts(text(), "counter"); }
  bool wait_for_count(size_t n) const {
    for (int i = 0; i < 3000 && counts().size() < n; ++i) std::this_thread::sleep_for(10ms);
    return counts().size() >= n;
  }

 private:
  mutable std::mutex mu_;
  std::string text_;
};

MachineConfig counter_config() {
  MachineConfig cfg;
  cfg.kernel = GUEST_KIT_DIR "/counter-pvh.elf";
  cfg.cmdline = "period_ms=20";
  cfg.memory = 32 << 20;
  cfg.cpus = 2;  // the AP waits for SIPI: its state must survive too
  cfg.rng = true;  // a PCI function: host bridge and virtio transport state go along
  return cfg;
}

class MachineSnapshot : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!testing::have_kvm()) GTEST_SKIP() << "/dev/kvm is not available here";
    dir_ = fs::temp_directory_path() / fmt::format("insula-snapshot-test-{}", ::getpid());
    fs::create_directories(dir_);
  }
  void TearDown() override {
    if (!dir_.empty()) fs::remove_all(dir_);
  }
  std::string path(const char* name) const { return (dir_ / name).string(); }

  // Boots the counter, lets it count to at least 3, snapshots it paused.
  // Returns the last count printed before the snapshot; before_ keeps the
  // console text up to it.
  uint64_t take_snapshot(const MachineConfig& cfg = counter_config(), const std::string& disk_snapshot = {}) {
    Console con;
    Machine m(cfg, [&](uint8_t c) { con.put(c); });
    MachineExit exit;
    std::thread runner([&] { exit = m.run(); });
    EXPECT_TRUE(con.wait_for_count(3)) << "the counter never counted: " << con.text();
    m.pause();
    before_ = con.text();
    uint64_t last = con.counts().empty() ? 0 : con.counts().back();
    m.snapshot(path("state"), path("memory"), disk_snapshot);
    m.stop({MachineExit::Kind::kPowerOff, 0, "test"});
    runner.join();
    return last;
  }

  // The count the restored guest printed after `last`, read across the
  // snapshot (testing::count_after).
  std::optional<uint64_t> next_count(const std::string& restored_text, uint64_t last) const {
    return testing::count_after(before_, restored_text, "counter", last);
  }

  fs::path dir_;
  std::string before_;
};

TEST_F(MachineSnapshot, RestoredCounterContinues) {
  uint64_t last = take_snapshot();
  ASSERT_GE(last, 3u);
  EXPECT_TRUE(fs::exists(path("state")));
  EXPECT_EQ(fs::file_size(path("memory")), 32u << 20);
  EXPECT_FALSE(fs::exists(path("state.tmp")));

  Console con;
  auto m = Machine::restore(path("state"), path("memory"), [&](uint8_t c) { con.put(c); });
  MachineExit exit;
  std::thread runner([&] { exit = m->run(); });
  bool counted = con.wait_for_count(3);
  m->stop({MachineExit::Kind::kPowerOff, 0, "test"});
  runner.join();
  ASSERT_TRUE(counted) << "the restored guest did not go on counting: " << con.text();
  auto counts = con.counts();
  EXPECT_EQ(next_count(con.text(), last), last + 1) << "output after restore: " << con.text();
  for (size_t i = 1; i < counts.size(); ++i) EXPECT_EQ(counts[i], counts[i - 1] + 1);
}

TEST_F(MachineSnapshot, ARestoredMachineCanBeSnapshottedAgain) {
  take_snapshot();
  // The second snapshot is of RAM mapped from the first one's file: pages
  // the guest did not touch since must come from that file.
  uint64_t last = 0;
  {
    Console con;
    auto m = Machine::restore(path("state"), path("memory"), [&](uint8_t c) { con.put(c); });
    std::thread runner([&] { m->run(); });
    EXPECT_TRUE(con.wait_for_count(2)) << con.text();
    m->pause();
    before_ = con.text();
    last = con.counts().back();
    m->snapshot(path("state2"), path("memory2"));
    m->stop({MachineExit::Kind::kPowerOff, 0, "test"});
    runner.join();
  }
  fs::remove(path("memory"));  // the second snapshot stands alone
  Console con;
  auto m = Machine::restore(path("state2"), path("memory2"), [&](uint8_t c) { con.put(c); });
  std::thread runner([&] { m->run(); });
  bool counted = con.wait_for_count(2);
  m->stop({MachineExit::Kind::kPowerOff, 0, "test"});
  runner.join();
  ASSERT_TRUE(counted) << con.text();
  EXPECT_EQ(next_count(con.text(), last), last + 1) << con.text();
}

std::string restore_error(const std::string& state, const std::string& memory) {
  try {
    Machine::restore(state, memory, [](uint8_t) {});
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST_F(MachineSnapshot, BadSnapshotsAreRefused) {
  take_snapshot();
  auto state_size = fs::file_size(path("state"));

  fs::copy_file(path("state"), path("truncated"));
  fs::resize_file(path("truncated"), state_size / 2);
  EXPECT_NE(restore_error(path("truncated"), path("memory")).find("truncated"), std::string::npos);

  fs::copy_file(path("state"), path("corrupt"));
  {
    std::fstream f(path("corrupt"), std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(state_size / 2));
    char c = 0;
    f.read(&c, 1);
    c ^= 0x55;
    f.seekp(static_cast<std::streamoff>(state_size / 2));
    f.write(&c, 1);
  }
  EXPECT_NE(restore_error(path("corrupt"), path("memory")).find("corrupt"), std::string::npos);

  fs::copy_file(path("state"), path("version"));
  {
    std::fstream f(path("version"), std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(8);
    uint32_t v = 99;
    f.write(reinterpret_cast<const char*>(&v), 4);
  }
  EXPECT_NE(restore_error(path("version"), path("memory")), "");

  // State for a device this build does not know.
  {
    auto r = StateReader::read_file(path("state"));
    StateWriter w;
    for (const auto& sec : r.sections()) w.add(sec.id, sec.version, sec.data);
    w.add("dev/flux-capacitor", 1, {});
    w.write_file(path("unknown"));
  }
  EXPECT_NE(restore_error(path("unknown"), path("memory")).find("'dev/flux-capacitor'"), std::string::npos);

  // The memory file must match the machine's RAM size.
  fs::copy_file(path("memory"), path("short-memory"));
  fs::resize_file(path("short-memory"), 16 << 20);
  EXPECT_NE(restore_error(path("state"), path("short-memory")).find("truncated"), std::string::npos);

  // The real snapshot is untouched by all that and still restores.
  EXPECT_EQ(fs::file_size(path("state")), state_size);
  EXPECT_NO_THROW(Machine::restore(path("state"), path("memory"), [](uint8_t) {}));
}

TEST_F(MachineSnapshot, VirtioBlkVsockAndBalloonAreSavedAndRestored) {
  // The counter does not drive them: this checks that every device kind's
  // sections are written, found and accepted, and that host resources (the
  // disk file, the vsock socket) are reopened from the saved config.
  MachineConfig cfg = counter_config();
  std::string disk = path("disk.raw");
  std::ofstream(disk).close();
  fs::resize_file(disk, 1 << 20);
  cfg.disks.push_back({disk, false, false, "snap-disk", "raw"});
  cfg.vsock = VsockConfig{3, path("vsock.sock")};
  cfg.balloon = BalloonConfig{};
  uint64_t last = take_snapshot(cfg);
  auto sections = StateReader::read_file(path("state")).sections();
  std::vector<std::string> ids;
  for (const auto& s : sections) ids.push_back(s.id);
  for (const char* id : {"pci/00/host-bridge", "pci/01/virtio-rng/device", "pci/02/virtio-blk", "pci/02/virtio-blk/device",
                         "pci/03/virtio-vsock/device", "pci/04/virtio-balloon/device"})
    EXPECT_NE(std::find(ids.begin(), ids.end(), id), ids.end()) << "no section " << id;
  fs::remove(path("vsock.sock"));  // the first VMM is gone: its socket would be in the way

  Console con;
  auto m = Machine::restore(path("state"), path("memory"), [&](uint8_t c) { con.put(c); });
  std::thread runner([&] { m->run(); });
  bool counted = con.wait_for_count(2);
  m->stop({MachineExit::Kind::kPowerOff, 0, "test"});
  runner.join();
  ASSERT_TRUE(counted) << con.text();
  EXPECT_EQ(next_count(con.text(), last), last + 1) << con.text();
  EXPECT_TRUE(fs::exists(path("vsock.sock"))) << "the vsock socket was not reopened";
}

// The disk part: a qcow2 internal snapshot in every writable disk, listed in
// the state file, reverted by restore only once every disk is known to
// have it.
class MachineSnapshotDisks : public MachineSnapshot {
 protected:
  std::string qcow2(const char* name) {
    block::CreateRequest c;
    c.path = path(name);
    c.format = "qcow2";
    c.size = 1 << 20;
    block::create_image(c);
    return c.path;
  }
  void put(const std::string& disk, const std::string& text) {
    auto d = block::open_image(disk);
    d->write(0, {reinterpret_cast<const uint8_t*>(text.data()), text.size()});
    d->flush();
  }
  std::string get(const std::string& disk) {
    block::OpenOptions ro;
    ro.read_only = true;
    auto d = block::open_image(disk, ro);
    std::string s(5, '\0');
    d->read(0, {reinterpret_cast<uint8_t*>(s.data()), s.size()});
    return s;
  }
};

TEST_F(MachineSnapshotDisks, RestoreRevertsEveryDiskOrNone) {
  MachineConfig cfg = counter_config();
  std::string a = qcow2("a.qcow2"), b = qcow2("b.qcow2"), ro = qcow2("ro.qcow2");
  put(a, "a-one");
  put(b, "b-one");
  cfg.disks.push_back({a, false, false, "a", "qcow2"});
  cfg.disks.push_back({b, false, false, "b", "qcow2"});
  cfg.disks.push_back({ro, true, false, "ro", "qcow2"});
  take_snapshot(cfg, "m1");
  EXPECT_TRUE(StateReader::read_file(path("state")).has("machine/disk-snapshots"));
  for (const auto& d : {a, b}) EXPECT_TRUE(has_internal_snapshot(d, "m1")) << d;
  EXPECT_FALSE(has_internal_snapshot(ro, "m1")) << "a read-only disk was written";

  put(a, "a-two");
  put(b, "b-two");
  // A disk part naming a disk the machine does not have: refused, nothing reverted.
  {
    auto r = StateReader::read_file(path("state"));
    StateWriter w;
    for (const auto& sec : r.sections())
      if (sec.id != "machine/disk-snapshots") w.add(sec.id, sec.version, sec.data);
    StateEncoder e;
    e.put<uint64_t>(1);
    e.put<uint32_t>(7);
    e.put_vector(std::vector<uint8_t>{'m', '1'});
    w.add("machine/disk-snapshots", 1, e.bytes());
    w.write_file(path("bad-disk"));
  }
  EXPECT_NE(restore_error(path("bad-disk"), path("memory")).find("corrupt"), std::string::npos);
  EXPECT_EQ(get(a), "a-two");

  EXPECT_NO_THROW(Machine::restore(path("state"), path("memory"), [](uint8_t) {}));
  EXPECT_EQ(get(a), "a-one");
  EXPECT_EQ(get(b), "b-one");

  // b's part deleted: the next restore refuses before a is reverted.
  put(a, "a-new");
  {
    auto d = block::open_image(b);
    auto* q = dynamic_cast<block::Qcow2Image*>(d.get());
    ASSERT_NE(q, nullptr);
    q->delete_snapshot("m1");
  }
  EXPECT_NE(restore_error(path("state"), path("memory")).find("disk part is missing"), std::string::npos);
  EXPECT_EQ(get(a), "a-new");
}

TEST_F(MachineSnapshotDisks, AWritableRawDiskRefusesTheDiskPart) {
  MachineConfig cfg = counter_config();
  std::string a = qcow2("a.qcow2"), raw = path("r.raw");
  std::ofstream(raw).close();
  fs::resize_file(raw, 1 << 20);
  cfg.disks.push_back({a, false, false, "a", "qcow2"});
  cfg.disks.push_back({raw, false, false, "r", "raw"});
  Console con;
  Machine m(cfg, [&](uint8_t c) { con.put(c); });
  std::thread runner([&] { m.run(); });
  ASSERT_TRUE(con.wait_for_count(1)) << con.text();
  m.pause();
  try {
    m.snapshot(path("state"), path("memory"), "m1");
    ADD_FAILURE() << "a raw disk was snapshotted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("raw image"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(path("state")));
  EXPECT_FALSE(has_internal_snapshot(a, "m1")) << "the qcow2 disk kept a half-made disk part";
  // The machine is whole: it resumes counting.
  size_t n = con.counts().size();
  m.resume();
  bool counted = con.wait_for_count(n + 1);
  m.stop({MachineExit::Kind::kPowerOff, 0, "test"});
  runner.join();
  EXPECT_TRUE(counted) << con.text();
}

TEST_F(MachineSnapshot, SnapshotNeedsAPausedMachine) {
  Machine m(counter_config(), [](uint8_t) {});
  // Built but never run: not paused.
  EXPECT_THROW(m.snapshot(path("state"), path("memory")), Error);
  EXPECT_FALSE(fs::exists(path("state")));
  EXPECT_FALSE(fs::exists(path("memory")));
}

}  // namespace
}  // namespace insula::vmm
