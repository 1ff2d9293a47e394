// GuestRam's mapping: where it lies and what it holds.
#include "vmm/guest_ram.h"

#include <gtest/gtest.h>

#include <cstdint>

namespace insula::vmm {
namespace {

constexpr uint64_t kMiB = 1 << 20;

// Guest-physical 2 MiB pages can be host huge pages only if the host address
// is 2 MiB-aligned too (KVM checks both): every size, every time.
TEST(GuestRam, StartsOnA2MiBBoundary) {
  for (uint64_t mib : {2, 3, 64, 130}) {
    GuestRam ram(mib * kMiB, 3072 * kMiB);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(ram.host()) % (2 * kMiB), 0u) << mib << " MiB";
    // All of it usable, first and last byte.
    ram.host()[0] = 1;
    ram.host()[mib * kMiB - 1] = 2;
    EXPECT_EQ(ram.host()[0] + ram.host()[mib * kMiB - 1], 3);
  }
}

}  // namespace
}  // namespace insula::vmm
