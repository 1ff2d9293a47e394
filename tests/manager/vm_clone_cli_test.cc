// `insula vm create --from` and `insula vm image` end to end with a temporary
// state directory: a clone's disk is a qcow2 overlay backed by the source's
// disk, which the clone's writes leave unchanged; --full copies; the base's
// owner cannot be removed, nor started writable, while clones depend on it;
// images are made, listed, cloned from and removed; --blank-disk and ,root.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "block/block_device.h"
#include "run_cli.h"
#include "vm_cli_fixture.h"
#include "vmm_fixture.h"

namespace insula::testing {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

const std::string kBaseData = "insula base disk";

class VmClone : public VmCliTest {
 protected:
  void SetUp() override {
    base_ = dir_.path() + "/base.raw";
    {
      std::ofstream out(base_, std::ios::binary);
      out << kBaseData;
    }
    fs::resize_file(base_, 4 << 20);
    state_ = dir_.path() + "/state";
  }
  json info(const std::string& name) {
    auto r = vm({"info", name, "--output", "json"});
    EXPECT_EQ(r.status, 0) << r.err;
    return json::parse(r.out);
  }
  std::string disk_of(const std::string& vm_name, size_t i = 0) {
    return info(vm_name)["devices"]["drives"][i]["path_on_host"];
  }
  // `insula img info --backing-chain --output json`: the chain, top first.
  json chain(const std::string& path) {
    auto r = run({insula_binary(), "img", "info", "--backing-chain", "--output", "json", path});
    EXPECT_EQ(r.status, 0) << r.err;
    return json::parse(r.out);
  }
  std::string read_start(const std::string& path, size_t n) {
    block::OpenOptions ro;
    ro.read_only = true;
    auto dev = block::open_image(path, ro);
    std::string s(n, '\0');
    dev->read(0, {reinterpret_cast<uint8_t*>(s.data()), n});
    return s;
  }
  void create_source() { ok({"create", "src", "--kernel", test_guest("ticker_pvh.elf"), "--memory", "64M", "--cmdline", "x=1", "--disk", base_}); }
  TempDir dir_;
  std::string base_;
};

TEST_F(VmClone, CloneIsAnOverlayOverTheSourceDisk) {
  create_source();
  ok({"create", "c1", "--from", "src"});
  auto c = info("c1"), s = info("src");
  EXPECT_EQ(c["kernel"], s["kernel"]);
  EXPECT_EQ(c["cmdline"], "x=1");
  EXPECT_EQ(c["memory_mib"], 64);
  std::string overlay = disk_of("c1");
  EXPECT_EQ(overlay, state_ + "/vms/c1/disk0.qcow2");
  auto ch = chain(overlay);
  ASSERT_EQ(ch.size(), 2u) << ch.dump();
  EXPECT_EQ(ch[0]["format"], "qcow2");
  EXPECT_EQ(ch[0]["backing-filename"], fs::absolute(base_).string());
  EXPECT_EQ(ch[1]["format"], "raw");

  // The clone writes its disk: the base does not change.
  {
    auto dev = block::open_image(overlay);
    std::string w = "written by the clone";
    dev->write(0, {reinterpret_cast<const uint8_t*>(w.data()), w.size()});
    dev->flush();
  }
  EXPECT_EQ(read_start(overlay, 20), "written by the clone");
  EXPECT_EQ(read_start(base_, kBaseData.size()), kBaseData);

  // Overrides win over the source's settings.
  ok({"create", "c2", "--from", "vm:src", "--memory", "128M", "--cpus", "2", "--cmdline", "y=2"});
  EXPECT_EQ(info("c2")["memory_mib"], 128);
  EXPECT_EQ(info("c2")["cpus"], 2);
  EXPECT_EQ(info("c2")["cmdline"], "y=2");
  EXPECT_EQ(info("c2")["kernel"], s["kernel"]);
  // A clone of a clone: a chain of three.
  ok({"create", "c3", "--from", "c1"});
  EXPECT_EQ(chain(disk_of("c3")).size(), 3u);
}

TEST_F(VmClone, RefusalsLeaveNoRecordAndProtectBases) {
  create_source();
  refused({"create", "x", "--from", "nope"}, "no such VM or image");
  refused({"create", "x", "--from", "image:src"}, "no such VM or image");
  refused({"create", "x", "--kernel", test_guest("ticker_pvh.elf"), "--full"}, "--full needs --from");
  refused({"create", "src", "--from", "src"}, "already exists");
  EXPECT_NE(vm({"info", "x"}).status, 0);
  EXPECT_FALSE(fs::exists(state_ + "/vms/x"));
  ok({"create", "c1", "--from", "src"});
  refused({"create", "c1", "--from", "src"}, "already exists");
  EXPECT_TRUE(fs::exists(disk_of("c1")));  // the failed create did not touch c1's files
  refused({"rm", "src"}, "base of clone c1");
  refused({"rm", "--force", "src"}, "base of clone c1");
  ok({"rm", "c1"});
  ok({"rm", "src"});
  EXPECT_EQ(read_start(base_, kBaseData.size()), kBaseData);  // a user's disk file is never deleted
}

TEST_F(VmClone, FullCloneIsAnIndependentCopy) {
  create_source();
  auto r = vm({"create", "f", "--from", "src", "--full", "-p"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("100.00/100%"), std::string::npos) << r.out;
  std::string copy = disk_of("f");
  auto ch = chain(copy);
  ASSERT_EQ(ch.size(), 1u) << ch.dump();
  EXPECT_FALSE(ch[0].contains("backing-filename"));
  EXPECT_EQ(ch[0]["virtual-size"], 4 << 20);
  EXPECT_EQ(read_start(copy, kBaseData.size()), kBaseData);
  ok({"rm", "src"});  // nothing depends on it
  EXPECT_EQ(read_start(copy, kBaseData.size()), kBaseData);
}

TEST_F(VmClone, ImagesCreateLsCloneRm) {
  create_source();
  ok({"create", "c1", "--from", "src"});
  {
    auto dev = block::open_image(disk_of("c1"));
    std::string w = "clone data";
    dev->write(0, {reinterpret_cast<const uint8_t*>(w.data()), w.size()});
    dev->flush();
  }
  // From a VM whose disk is an overlay: flattened, with the VM's settings.
  ok({"image", "create", "img1", "--from-vm", "c1"});
  ok({"image", "create", "img2", "--from", base_});
  refused({"image", "create", "img1", "--from", base_}, "already exists");
  refused({"image", "create", "img3", "--from-vm", "nope"}, "no VM named nope");
  refused({"image", "create", "img3", "--from", dir_.path() + "/nope.raw"}, "no such file");
  auto r = vm({"image", "ls", "--output", "json"});
  ASSERT_EQ(r.status, 0) << r.err;
  auto ls = json::parse(r.out);
  ASSERT_EQ(ls.size(), 2u) << ls.dump();
  EXPECT_EQ(ls[0]["name"], "img1");
  EXPECT_EQ(ls[0]["source"], "vm:c1");
  ASSERT_EQ(ls[0]["disks"].size(), 1u);
  std::string img_disk = ls[0]["disks"][0];
  EXPECT_EQ(img_disk, state_ + "/images/img1/disk0.qcow2");
  EXPECT_EQ(chain(img_disk).size(), 1u);  // flat
  EXPECT_EQ(read_start(img_disk, 10), "clone data");
  struct stat st {};
  ASSERT_EQ(::stat(img_disk.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0222, 0u);  // a base: read-only
  EXPECT_NE(vm({"image", "ls"}).out.find("img2"), std::string::npos);

  ok({"create", "fromimg", "--from", "img1"});
  EXPECT_EQ(info("fromimg")["cmdline"], "x=1");
  EXPECT_EQ(chain(disk_of("fromimg"))[0]["backing-filename"], img_disk);
  refused({"create", "nokernel", "--from", "img2"}, "has no kernel");
  ok({"create", "withkernel", "--from", "img2", "--kernel", test_guest("ticker_pvh.elf")});
  refused({"image", "rm", "img1"}, "base of VM fromimg");
  ok({"rm", "fromimg"});
  ok({"image", "rm", "img1"});
  EXPECT_FALSE(fs::exists(state_ + "/images/img1"));
  refused({"image", "rm", "img1"}, "no image named img1");
  r = vm({"image", "ls", "--output", "json"});
  EXPECT_EQ(json::parse(r.out).size(), 1u);
}

TEST_F(VmClone, BlankDiskAndRootDevice) {
  ok({"create", "b", "--kernel", test_guest("ticker_pvh.elf"), "--disk", base_ + ",root,ro", "--blank-disk", "64M"});
  auto drives = info("b")["devices"]["drives"];
  ASSERT_EQ(drives.size(), 2u) << drives.dump();
  EXPECT_EQ(drives[0]["is_root_device"], true);
  EXPECT_EQ(drives[0]["is_read_only"], true);
  EXPECT_EQ(drives[1]["path_on_host"], state_ + "/vms/b/blank0.qcow2");
  EXPECT_EQ(drives[1]["is_root_device"], false);
  EXPECT_EQ(chain(drives[1]["path_on_host"])[0]["virtual-size"], 64 << 20);
  refused({"create", "b2", "--kernel", test_guest("ticker_pvh.elf"), "--blank-disk", "lots"}, "lots");
}

TEST_F(VmClone, BaseOwnerCannotStartWritableNorBeClonedRunning) {
  if (!have_kvm()) GTEST_SKIP() << "/dev/kvm is not available here";
  create_source();
  ok({"create", "c1", "--from", "src"});
  refused({"start", "src"}, "read-only base of clone c1");
  EXPECT_EQ(info("src")["state"], "stopped");
  ok({"start", "c1"});
  EXPECT_EQ(info("c1")["state"], "running");
  refused({"create", "c2", "--from", "c1"}, "stop it before cloning");
  refused({"image", "create", "i", "--from-vm", "c1"}, "stop it first");
  ok({"stop", "c1", "--force"});
  EXPECT_EQ(read_start(base_, kBaseData.size()), kBaseData);
}

}  // namespace
}  // namespace insula::testing
