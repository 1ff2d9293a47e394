// The guest's physical memory map (e820), handed to every boot protocol.
#pragma once

#include <cstdint>
#include <vector>

namespace insula::x86 {

enum class E820Type : uint32_t { kRam = 1, kReserved = 2, kAcpi = 3, kNvs = 4 };

struct E820Entry {
  uint64_t addr;
  uint64_t size;
  E820Type type;
};

// RAM below 640 KiB, the BIOS area reserved, RAM from 1 MiB to lowmem_end, and
// highmem_size bytes of RAM from 4 GiB.
std::vector<E820Entry> build_e820(uint64_t lowmem_end, uint64_t highmem_size);

}  // namespace insula::x86
