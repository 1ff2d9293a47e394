// e820 map construction.
#include "arch/x86/e820.h"

#include "arch/x86/guest_layout.h"

namespace insula::x86 {

std::vector<E820Entry> build_e820(uint64_t lowmem_end, uint64_t highmem_size) {
  std::vector<E820Entry> map;
  map.push_back({0, kEbdaStart, E820Type::kRam});
  map.push_back({kEbdaStart, kHighMemoryStart - kEbdaStart, E820Type::kReserved});
  if (lowmem_end > kHighMemoryStart) map.push_back({kHighMemoryStart, lowmem_end - kHighMemoryStart, E820Type::kRam});
  if (highmem_size) map.push_back({k4GiB, highmem_size, E820Type::kRam});
  return map;
}

}  // namespace insula::x86
