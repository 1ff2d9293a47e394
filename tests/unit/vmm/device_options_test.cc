// `--disk` options as the user writes them, and their way through the
// machine config the manager stores.
#include <gtest/gtest.h>

#include "base/error.h"
#include "vmm/device_options.h"
#include "vmm/machine_config_json.h"

namespace insula::vmm {
namespace {

TEST(DiskOptions, CacheAndAio) {
  DiskConfig d = parse_disk("/d.img,cache=none,aio=threads,serial=S1,ro");
  EXPECT_EQ(d.path, "/d.img");
  EXPECT_TRUE(d.direct);
  EXPECT_FALSE(d.io_uring);
  EXPECT_TRUE(d.read_only);
  EXPECT_EQ(d.serial, "S1");
  EXPECT_TRUE(parse_disk("/d.img").io_uring);  // the default
  EXPECT_TRUE(parse_disk("/d.img,aio=native").io_uring);
  EXPECT_THROW(parse_disk("/d.img,aio=posix"), Error);
  EXPECT_THROW(parse_disk(",ro"), Error);
}

TEST(DiskOptions, AioSurvivesTheStoredConfig) {
  MachineConfig c;
  c.disks.push_back(parse_disk("/a.img,aio=threads"));
  c.disks.push_back(parse_disk("/b.img,cache=direct"));
  MachineConfig back = config_from_json(config_to_json(c));
  ASSERT_EQ(back.disks.size(), 2u);
  EXPECT_FALSE(back.disks[0].io_uring);
  EXPECT_TRUE(back.disks[1].io_uring);
  EXPECT_TRUE(back.disks[1].direct);
}

}  // namespace
}  // namespace insula::vmm
