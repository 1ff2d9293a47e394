// Writes the ACPI area (0xE0000-0xEFFFF) that build_acpi() produces for
// N CPUs (and PCI) to a file, so linux_tables_test.sh can hand it to an
// unmodified Linux kernel through QEMU's loader device.
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <vector>

#include "arch/x86/acpi.h"

int main(int argc, char** argv) {
  using namespace insula::x86;
  if (argc < 3) {
    std::cerr << "usage: " << argv[0] << " OUT CPUS [pci]\n";
    return 2;
  }
  std::vector<uint8_t> ram(kBiosAreaEnd);
  insula::GuestMemory mem({{0, ram.size(), ram.data()}});
  AcpiConfig cfg;
  cfg.num_cpus = std::atoi(argv[2]);
  if (argc > 3) {
    cfg.pci = true;
    cfg.intx = standard_intx_routes();
    cfg.mmio64_base = pci_mmio64_base(256 << 20);
    cfg.mmio64_size = kPciMmio64Size;
  }
  build_acpi(cfg, mem);
  std::ofstream out(argv[1], std::ios::binary);
  out.write(reinterpret_cast<const char*>(ram.data() + kAcpiRsdpAddr), kAcpiTablesEnd - kAcpiRsdpAddr);
  return out ? 0 : 1;
}
