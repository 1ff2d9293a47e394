// The demo guest (guests/src/demo.c, PVH ELF), embedded into host binaries by
// linking the insula_demo_guest library: what `insula run` can boot on hosts
// that cannot run Linux. Boot it like any PVH kernel; it exits with status 33.
#pragma once

#include <cstddef>
#include <span>

namespace insula::guests {

extern const unsigned char kDemoGuestPvhElf[];
extern const std::size_t kDemoGuestPvhElfSize;

inline std::span<const unsigned char> demo_guest_pvh_elf() { return {kDemoGuestPvhElf, kDemoGuestPvhElfSize}; }

}  // namespace insula::guests
