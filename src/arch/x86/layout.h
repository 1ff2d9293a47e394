// Guest-physical and I/O-port layout of the x86 machine: where firmware
// tables, the PCI hole and the platform devices live.
//
// One place for these numbers so the table builders, the machine and the
// device models agree. Boot-loader addresses (zero page, page tables,
// command line) belong to the machine, not here.
#pragma once

#include <cstdint>

namespace insula::x86 {

// ---- Legacy BIOS area (0xA0000-0xFFFFF) --------------------------------
// Linux (and other OSes) look for the ACPI RSDP and the MP floating pointer
// by scanning 0xE0000-0xFFFFF on 16-byte boundaries, and treat 0xA0000-
// 0xFFFFF as reserved whatever the e820 map says. Putting every table there
// means nothing else in RAM must be reserved for them. The machine must back
// 0xE0000-0xFFFFF with guest memory (normally part of the low RAM region)
// and should report 0xA0000-0xFFFFF as reserved (not usable) in e820.
inline constexpr uint64_t kBiosAreaStart = 0xE0000;
inline constexpr uint64_t kBiosAreaEnd = 0x100000;  // exclusive

// ACPI: the RSDP first (16-byte aligned, where the scan starts), then every
// other table after it, each 16-byte aligned (FACS 64-byte), up to the end.
inline constexpr uint64_t kAcpiRsdpAddr = 0xE0000;
inline constexpr uint64_t kAcpiTablesEnd = 0xF0000;  // exclusive

// MP table (Intel MultiProcessor spec 1.4): floating pointer, then the
// configuration table right after it. 0xF0000-0xFFFFF is scanned by Linux.
// 0xF8000-0xFFFFF stays free (e.g. for SMBIOS).
inline constexpr uint64_t kMpTableAddr = 0xF0000;
inline constexpr uint64_t kMpTableEnd = 0xF8000;  // exclusive

// ---- 32-bit PCI hole: 3 GiB .. 4 GiB -----------------------------------
// RAM below 4 GiB stops here; the rest of guest RAM goes above 4 GiB.
inline constexpr uint64_t kPciHoleStart = 0xC0000000;
inline constexpr uint64_t kPciHoleEnd = 0x100000000;  // exclusive

// Window for 32-bit memory BARs (what the host bridge _CRS offers).
inline constexpr uint64_t kPciMmio32Base = 0xC0000000;
inline constexpr uint64_t kPciMmio32Size = 0x20000000;  // 512 MiB

// ECAM / MMCONFIG (PCIe enhanced configuration): 1 MiB per bus, room for
// buses 0-255. Announced in MCFG and reserved by a PNP0C02 device in the
// DSDT (Linux refuses MMCONFIG that is not reserved); the machine should
// also mark it reserved in e820.
inline constexpr uint64_t kPciEcamBase = 0xE0000000;
inline constexpr uint64_t kPciEcamSize = 0x10000000;  // 256 MiB
inline constexpr uint64_t kPciEcamBusSize = 0x100000;  // 1 MiB per bus

// 0xF0000000-0xFEBFFFFF: free for platform MMIO devices the machine adds.
inline constexpr uint64_t kPlatformMmioBase = 0xF0000000;

// IOAPIC and local APIC: architectural defaults that KVM's in-kernel
// irqchip uses.
inline constexpr uint64_t kIoApicAddr = 0xFEC00000;
inline constexpr uint64_t kLapicAddr = 0xFEE00000;
inline constexpr int kIoApicPins = 24;  // KVM's in-kernel IOAPIC
// GSIs 16-23 (IOAPIC pins above the ISA ones) carry PCI INTx. Suggested
// routing, the usual swizzle so neighbouring slots share less:
// slot s, pin p (0 = INTA) -> GSI 16 + (s + p) % 8.
inline constexpr uint32_t kPciIntxGsiBase = 16;
inline constexpr uint32_t kPciIntxGsiCount = 8;
constexpr uint32_t pci_intx_gsi(uint8_t slot, uint8_t pin) {
  return kPciIntxGsiBase + (uint32_t(slot) + pin) % kPciIntxGsiCount;
}

// ---- 64-bit PCI window --------------------------------------------------
// For 64-bit BARs: from the first 1 GiB boundary at or above the end of RAM
// (RAM above 4 GiB included), kPciMmio64Size bytes. Small enough to fit a
// guest with 40 physical address bits and a terabyte-scale RAM size.
inline constexpr uint64_t kPciMmio64Size = 64ull << 30;  // 64 GiB

// End (exclusive) of guest-physical RAM for `ram_size` bytes laid out around
// the PCI hole: [0, min(ram, 3 GiB)) then [4 GiB, 4 GiB + rest).
constexpr uint64_t ram_end(uint64_t ram_size) {
  return ram_size <= kPciHoleStart ? ram_size : kPciHoleEnd + (ram_size - kPciHoleStart);
}
constexpr uint64_t pci_mmio64_base(uint64_t ram_size) {
  constexpr uint64_t kAlign = 1ull << 30;
  uint64_t end = ram_end(ram_size) < kPciHoleEnd ? kPciHoleEnd : ram_end(ram_size);
  return (end + kAlign - 1) & ~(kAlign - 1);
}

// ---- I/O ports ----------------------------------------------------------
// PCI I/O window offered to BARs by the host bridge (0x1000-0xFFFF: above
// every legacy ISA port, like PC firmware does).
inline constexpr uint16_t kPciIoBase = 0x1000;
inline constexpr uint32_t kPciIoSize = 0xF000;
// Type 1 configuration access (address at 0xCF8, data at 0xCFC).
inline constexpr uint16_t kPciConfigPort = 0xCF8;

// ACPI PM register block (fixed hardware), at the same ports as QEMU's
// PIIX4/ICH9 PM so tools that know those find them:
//   0x600 PM1a_EVT (PM1_STS 16 bits, PM1_EN 16 bits)
//   0x604 PM1a_CNT (16 bits)
//   0x608 PM_TMR   (32 bits, 3.579545 MHz)
inline constexpr uint16_t kAcpiPmBase = 0x600;
inline constexpr uint16_t kAcpiPm1EvtPort = 0x600;
inline constexpr uint8_t kAcpiPm1EvtLen = 4;
inline constexpr uint16_t kAcpiPm1CntPort = 0x604;
inline constexpr uint8_t kAcpiPm1CntLen = 2;
inline constexpr uint16_t kAcpiPmTmrPort = 0x608;
inline constexpr uint8_t kAcpiPmTmrLen = 4;
inline constexpr uint16_t kAcpiPmSize = 0x0C;  // 0x600-0x60B, one BusDevice

// SCI: ISA IRQ 9, level-triggered, active-high (MADT source override).
inline constexpr uint8_t kAcpiSciIrq = 9;
// SLP_TYP that \_S5 announces and the PM1 control block treats as power-off.
inline constexpr uint8_t kAcpiSlpTypS5 = 5;

// ACPI reset register: the i8042 command port, value 0xFE (pulse reset
// line). The machine already has the i8042 for Linux's keyboard-controller
// reboot, so ACPI reset and KBD reset land in the same device; 0xCF9 would
// sit inside the PCI config address dword at 0xCF8.
inline constexpr uint16_t kAcpiResetPort = 0x64;
inline constexpr uint8_t kAcpiResetValue = 0xFE;

// Legacy ISA devices described in the DSDT.
inline constexpr uint16_t kCom1Port = 0x3F8;
inline constexpr uint8_t kCom1Irq = 4;
inline constexpr uint16_t kRtcPort = 0x70;
inline constexpr uint8_t kRtcIrq = 8;

// The ranges above must not overlap; a layout change that breaks this
// fails to compile.
static_assert(kAcpiRsdpAddr >= kBiosAreaStart && kAcpiTablesEnd <= kMpTableAddr && kMpTableEnd <= kBiosAreaEnd);
static_assert(kPciMmio32Base >= kPciHoleStart && kPciMmio32Base + kPciMmio32Size <= kPciEcamBase);
static_assert(kPciEcamBase + kPciEcamSize <= kPlatformMmioBase && kPlatformMmioBase < kIoApicAddr);
static_assert(kIoApicAddr < kLapicAddr && kLapicAddr < kPciHoleEnd);
static_assert(kAcpiPmBase + kAcpiPmSize <= kPciIoBase && kPciIoBase + kPciIoSize <= 0x10000);
static_assert(kAcpiPm1CntPort >= kAcpiPm1EvtPort + kAcpiPm1EvtLen && kAcpiPmTmrPort >= kAcpiPm1CntPort + kAcpiPm1CntLen &&
              kAcpiPmTmrPort + kAcpiPmTmrLen <= kAcpiPmBase + kAcpiPmSize);

}  // namespace insula::x86
