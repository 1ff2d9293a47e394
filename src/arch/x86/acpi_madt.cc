// MADT (ACPI 6.5 §5.2.12): the local APIC of every CPU, the IOAPIC, and
// how ISA IRQs reach IOAPIC inputs.
#include "arch/x86/acpi_tables.h"

namespace insula::x86 {
namespace {

constexpr uint8_t kMadtRevision = 5;
constexpr uint32_t kPcatCompat = 1;  // dual 8259 PICs present (KVM's)

constexpr uint8_t kLocalApic = 0, kIoApic = 1, kSourceOverride = 2, kLocalApicNmi = 4;
constexpr uint32_t kLapicEnabled = 1;
// MPS INTI flags: polarity bits 1:0, trigger mode bits 3:2.
constexpr uint16_t kActiveHigh = 1, kLevel = 3 << 2;

void source_override(ByteWriter& w, uint8_t irq, uint32_t gsi, uint16_t flags) {
  w.u8(kSourceOverride);
  w.u8(10);
  w.u8(0);  // bus: ISA
  w.u8(irq);
  w.u32(gsi);
  w.u16(flags);
}

}  // namespace

TableBytes build_madt(const AcpiConfig& cfg) {
  SdtWriter w("APIC", kMadtRevision);
  w.u32(uint32_t(kLapicAddr));
  w.u32(kPcatCompat);
  for (int i = 0; i < cfg.num_cpus; ++i) {
    w.u8(kLocalApic);
    w.u8(8);
    w.u8(uint8_t(i));  // ACPI processor UID (matches _UID of \_SB.Cxxx)
    w.u8(uint8_t(i));  // APIC ID
    w.u32(kLapicEnabled);
  }
  w.u8(kIoApic);
  w.u8(12);
  w.u8(ioapic_id(cfg));
  w.u8(0);
  w.u32(uint32_t(kIoApicAddr));
  w.u32(0);  // GSI base: pins 0..23 are GSIs 0..23
  // The PIT's IRQ0 arrives on IOAPIC pin 2 (KVM routes GSI 2 there, as
  // PC chipsets do); flags 0 = ISA defaults (edge, active-high).
  source_override(w, 0, 2, 0);
  // The SCI is level-triggered and active-high, as PC chipsets wire it:
  // the PM device holds the line high while an enabled event is pending.
  source_override(w, kAcpiSciIrq, kAcpiSciIrq, kActiveHigh | kLevel);
  // NMI reaches every CPU on LINT1 (flags 0: conforms to the bus).
  w.u8(kLocalApicNmi);
  w.u8(6);
  w.u8(0xFF);  // all processors
  w.u16(0);
  w.u8(1);  // LINT1
  return w.finish();
}

}  // namespace insula::x86
