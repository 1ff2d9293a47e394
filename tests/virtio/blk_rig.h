// BlkRig: a virtio-blk device on a disk (a MemDisk, or any BlockDevice),
// driven through the PCI transport by a FakeDriver over fake guest RAM.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <thread>
#include <utility>
#include <vector>

#include "devices/virtio/virtio_blk.h"
#include "fake_driver.h"
#include "mem_disk.h"

namespace insula::testing {

inline constexpr uint64_t kHdr = 0x10000, kData = 0x20000, kStatus = 0x30000;

struct BlkRig {
  // With msix, queue q interrupts on vector q (MSI data 0x40 + q); features
  // in drop are not accepted.
  explicit BlkRig(bool ro = false, uint64_t size = 1 << 20,
                  virtio::VirtioBlkOptions o = {false, "insula-disk-0", 2, 64}, bool msix = false, uint64_t drop = 0)
      : BlkRig(std::make_shared<MemDisk>(size, ro), o, msix, drop) {}
  BlkRig(std::shared_ptr<block::BlockDevice> d, virtio::VirtioBlkOptions o, bool msix = false, uint64_t drop = 0)
      : dev(std::move(d)),
        disk(std::dynamic_pointer_cast<MemDisk>(dev)),
        blk(std::make_shared<virtio::VirtioBlk>(dev, o)),
        ram(0x100000),
        pci(blk, ram.mem, &msi, nullptr),
        drv(pci, ram) {
    if (msix) enable_msix(pci, uint16_t(o.num_queues + 1));
    uint64_t f = drv.device_features() & ~drop;
    EXPECT_TRUE(drv.negotiate(f));
    for (uint16_t q = 0; q < o.num_queues; q++)
      drv.setup_queue(q, 64, 0x1000 + 0x1000ull * q, msix ? q : virtio::kNoVector);
    drv.driver_ok();
    EXPECT_EQ(drv.status(), 0xf);
  }
  void header(uint32_t type, uint64_t sector) {
    uint32_t h[4] = {type, 0, uint32_t(sector), uint32_t(sector >> 32)};
    ram.mem.write(kHdr, h, 16);
    uint8_t poison = 0xee;
    ram.mem.write_obj(kStatus, poison);
  }
  // Waits for the next completion on queue q; returns (used len, status byte).
  std::pair<uint32_t, uint8_t> complete(uint16_t q = 0) {
    for (int i = 0; i < 2000; i++) {
      if (auto u = drv.used(q)) {
        uint8_t s = 0xff;
        ram.mem.read_obj(kStatus, s);
        return {u->second, s};
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    ADD_FAILURE() << "no completion";
    return {0, 0xff};
  }
  std::pair<uint32_t, uint8_t> run(uint32_t type, uint64_t sector, std::vector<Seg> data, uint16_t q = 0) {
    header(type, sector);
    data.insert(data.begin(), Seg{kHdr, 16, false});
    data.push_back(Seg{kStatus, 1, true});
    drv.add(q, data);
    drv.kick(q);
    return complete(q);
  }
  // Adds a 4 KiB read of sector 0 to queue q (no kick).
  void add_read(uint16_t q = 0) { drv.add(q, {Seg{kHdr, 16, false}, Seg{kData, 4096, true}, Seg{kStatus, 1, true}}); }

  std::shared_ptr<block::BlockDevice> dev;
  std::shared_ptr<MemDisk> disk;  // null when dev is not a MemDisk
  std::shared_ptr<virtio::VirtioBlk> blk;
  FakeRam ram;
  RecordingMsi msi;
  virtio::VirtioPci pci;
  FakeDriver drv;
};

}  // namespace insula::testing
