// MP table (Intel MultiProcessor Specification 1.4, chapter 4).
#include "arch/x86/mptable.h"

#include "arch/x86/acpi_table.h"
#include "arch/x86/acpi_tables.h"
#include "base/error.h"

namespace insula::x86 {
namespace {

constexpr uint8_t kSpecRev = 4;  // MP spec 1.4
constexpr uint8_t kLapicVersion = 0x14;
constexpr uint8_t kIoApicVersion = 0x11;  // what KVM's IOAPIC reports
// Entry types.
constexpr uint8_t kProcessor = 0, kBus = 1, kIoApic = 2, kIoInterrupt = 3, kLocalInterrupt = 4;
// Interrupt types.
constexpr uint8_t kInt = 0, kNmi = 1, kExtInt = 3;
constexpr uint16_t kPciIrqFlags = 0x0F;  // active-low, level-triggered
constexpr uint8_t kCpuEnabled = 1, kCpuBsp = 2;
constexpr uint32_t kCpuSignature = 0x600;     // family 6
constexpr uint32_t kCpuFeatures = 0x201;      // FPU, APIC
constexpr size_t kFloatingPointerSize = 16;

void interrupt(ByteWriter& w, uint8_t entry, uint8_t type, uint16_t flags, uint8_t bus, uint8_t bus_irq,
               uint8_t apic, uint8_t pin) {
  w.u8(entry);
  w.u8(type);
  w.u16(flags);
  w.u8(bus);
  w.u8(bus_irq);
  w.u8(apic);
  w.u8(pin);
}

}  // namespace

uint64_t build_mptable(const AcpiConfig& cfg, const GuestMemory& mem) {
  validate(cfg);
  const uint8_t ioapic = ioapic_id(cfg);
  // PCI bus IDs must equal PCI bus numbers, so PCI takes ID 0.
  const uint8_t pci_bus = 0;
  const uint8_t isa_bus = cfg.pci ? 1 : 0;

  ByteWriter e;  // entries
  uint16_t count = 0;
  for (int i = 0; i < cfg.num_cpus; ++i, ++count) {
    e.u8(kProcessor);
    e.u8(uint8_t(i));
    e.u8(kLapicVersion);
    e.u8(kCpuEnabled | (i == 0 ? kCpuBsp : 0));
    e.u32(kCpuSignature);
    e.u32(kCpuFeatures);
    e.zeros(8);
  }
  if (cfg.pci) {
    e.u8(kBus);
    e.u8(pci_bus);
    e.chars("PCI", 6);
    ++count;
  }
  e.u8(kBus);
  e.u8(isa_bus);
  e.chars("ISA", 6);
  ++count;
  e.u8(kIoApic);
  e.u8(ioapic);
  e.u8(kIoApicVersion);
  e.u8(1);  // enabled
  e.u32(uint32_t(kIoApicAddr));
  ++count;
  // ISA IRQs, flags 0 = bus defaults (edge, active-high). IRQ0 (PIT) is on
  // pin 2 as in the MADT override; IRQ2 is the PIC cascade and has none.
  for (uint8_t irq = 0; irq < 16; ++irq) {
    if (irq == 2) continue;
    interrupt(e, kIoInterrupt, kInt, 0, isa_bus, irq, ioapic, irq == 0 ? 2 : irq);
    ++count;
  }
  if (cfg.pci) {
    for (const auto& r : cfg.intx) {
      interrupt(e, kIoInterrupt, kInt, kPciIrqFlags, pci_bus, uint8_t((r.slot << 2) | r.pin), ioapic,
                uint8_t(r.gsi));
      ++count;
    }
  }
  // The PICs' output on LINT0 (virtual wire mode), NMI on LINT1, all CPUs.
  interrupt(e, kLocalInterrupt, kExtInt, 0, isa_bus, 0, 0xFF, 0);
  interrupt(e, kLocalInterrupt, kNmi, 0, isa_bus, 0, 0xFF, 1);
  count += 2;

  const uint64_t config_addr = kMpTableAddr + kFloatingPointerSize;
  ByteWriter h;
  h.chars("PCMP", 4);
  h.u16(uint16_t(44 + e.size()));
  h.u8(kSpecRev);
  h.u8(0);  // checksum
  h.chars(kAcpiOemId, 8);
  h.chars(kAcpiOemTableId, 12);
  h.u32(0);  // OEM table pointer
  h.u16(0);  // OEM table size
  h.u16(count);
  h.u32(uint32_t(kLapicAddr));
  h.u16(0);  // extended table length
  h.u8(0);   // extended table checksum
  h.u8(0);
  h.bytes(e.data());
  std::vector<uint8_t> config = std::move(h.data());
  config[7] = uint8_t(-acpi_sum(config.data(), config.size()));

  ByteWriter f;
  f.chars("_MP_", 4);
  f.u32(uint32_t(config_addr));
  f.u8(1);  // length in 16-byte units
  f.u8(kSpecRev);
  f.u8(0);  // checksum
  f.u8(0);  // feature 1: the configuration table is present
  f.u8(0);  // feature 2: no IMCR, virtual wire mode
  f.zeros(3);
  std::vector<uint8_t> fp = std::move(f.data());
  fp[10] = uint8_t(-acpi_sum(fp.data(), fp.size()));

  if (config_addr + config.size() > kMpTableEnd)
    throw error("MP table: {} bytes do not fit below {:#x}", config.size(), kMpTableEnd);
  if (!mem.contains(kMpTableAddr, kMpTableEnd - kMpTableAddr))
    throw error("MP table: guest memory does not cover {:#x}-{:#x}; the low RAM region must include the BIOS area",
                kMpTableAddr, kMpTableEnd - 1);
  std::vector<uint8_t> zeros(kMpTableEnd - kMpTableAddr);
  mem.write(kMpTableAddr, zeros.data(), zeros.size());
  mem.write(kMpTableAddr, fp.data(), fp.size());
  mem.write(config_addr, config.data(), config.size());
  return kMpTableAddr;
}

uint64_t build_mptable(int num_cpus, const GuestMemory& mem) {
  AcpiConfig cfg;
  cfg.num_cpus = num_cpus;
  return build_mptable(cfg, mem);
}

}  // namespace insula::x86
