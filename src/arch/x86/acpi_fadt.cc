// FADT (ACPI 6.5 §5.2.9) and FACS (§5.2.10): the fixed hardware a full
// (not hardware-reduced) ACPI platform has: SCI, PM1a event/control
// blocks, PM timer, reset register.
#include "arch/x86/acpi_tables.h"

namespace insula::x86 {
namespace {

// FADT Flags (§5.2.9, Table 5.10).
constexpr uint32_t kWbinvd = 1 << 0;
constexpr uint32_t kProcC1 = 1 << 2;
constexpr uint32_t kSlpButton = 1 << 5;   // no fixed-feature sleep button
constexpr uint32_t kFixRtc = 1 << 6;      // no RTC wake status in PM1
constexpr uint32_t kTmrValExt = 1 << 8;   // 32-bit PM timer
constexpr uint32_t kResetRegSup = 1 << 10;
// IA-PC boot architecture flags (Table 5.11).
constexpr uint16_t kLegacyDevices = 1 << 0;
constexpr uint16_t k8042 = 1 << 1;
constexpr uint16_t kVgaNotPresent = 1 << 2;
constexpr uint16_t kPcieAspmControls = 1 << 4;  // OSPM must not touch ASPM

constexpr uint8_t kFadtRevision = 6;
constexpr uint8_t kFadtMinorRevision = 5;
constexpr uint8_t kAccessByte = 1;

}  // namespace

TableBytes build_fadt(const AcpiConfig&, uint64_t facs_addr, uint64_t dsdt_addr) {
  SdtWriter w("FACP", kFadtRevision);
  w.u32(uint32_t(facs_addr));  // FIRMWARE_CTRL
  w.u32(uint32_t(dsdt_addr));  // DSDT
  w.u8(0);                     // reserved (ACPI 1.0 INT_MODEL)
  w.u8(0);                     // Preferred_PM_Profile: unspecified
  w.u16(kAcpiSciIrq);          // SCI_INT
  // No SMI_CMD: the platform is always in ACPI mode (SCI_EN reads 1), so
  // ACPI_ENABLE/ACPI_DISABLE/S4BIOS_REQ/PSTATE_CNT are 0 too.
  w.u32(0);
  w.u8(0);
  w.u8(0);
  w.u8(0);
  w.u8(0);
  w.u32(kAcpiPm1EvtPort);  // PM1a_EVT_BLK
  w.u32(0);                // PM1b_EVT_BLK
  w.u32(kAcpiPm1CntPort);  // PM1a_CNT_BLK
  w.u32(0);                // PM1b_CNT_BLK
  w.u32(0);                // PM2_CNT_BLK
  w.u32(kAcpiPmTmrPort);   // PM_TMR_BLK
  w.u32(0);                // GPE0_BLK: no general-purpose events
  w.u32(0);                // GPE1_BLK
  w.u8(kAcpiPm1EvtLen);
  w.u8(kAcpiPm1CntLen);
  w.u8(0);  // PM2_CNT_LEN
  w.u8(kAcpiPmTmrLen);
  w.u8(0);  // GPE0_BLK_LEN
  w.u8(0);  // GPE1_BLK_LEN
  w.u8(0);  // GPE1_BASE
  w.u8(0);  // CST_CNT
  // Latencies above 100/1000 us say C2/C3 are not supported: the guest
  // idles with HLT (C1), which KVM turns into a host sleep.
  w.u16(101);   // P_LVL2_LAT
  w.u16(1001);  // P_LVL3_LAT
  w.u16(0);     // FLUSH_SIZE
  w.u16(0);     // FLUSH_STRIDE
  w.u8(0);      // DUTY_OFFSET
  w.u8(0);      // DUTY_WIDTH
  w.u8(0);      // DAY_ALRM
  w.u8(0);      // MON_ALRM
  w.u8(0);      // CENTURY: no century register in our CMOS
  w.u16(kLegacyDevices | k8042 | kVgaNotPresent | kPcieAspmControls);
  w.u8(0);  // reserved
  w.u32(kWbinvd | kProcC1 | kSlpButton | kFixRtc | kTmrValExt | kResetRegSup);
  w.gas(kGasSystemIo, 8, kAccessByte, kAcpiResetPort);  // RESET_REG
  w.u8(kAcpiResetValue);
  w.u16(0);  // ARM_BOOT_ARCH
  w.u8(kFadtMinorRevision);
  // X_FIRMWARE_CTRL: the spec wants at most one of the two FACS pointers
  // set; the FACS is below 4 GiB, so the 32-bit one it is.
  w.u64(0);
  w.u64(dsdt_addr);  // X_DSDT
  // Access size 0 ("legacy"): the OS uses the natural width of each
  // register, as it does for the 32-bit block fields.
  w.gas(kGasSystemIo, kAcpiPm1EvtLen * 8, 0, kAcpiPm1EvtPort);  // X_PM1a_EVT_BLK
  w.gas(0, 0, 0, 0);                                            // X_PM1b_EVT_BLK
  w.gas(kGasSystemIo, kAcpiPm1CntLen * 8, 0, kAcpiPm1CntPort);  // X_PM1a_CNT_BLK
  w.gas(0, 0, 0, 0);                                            // X_PM1b_CNT_BLK
  w.gas(0, 0, 0, 0);                                            // X_PM2_CNT_BLK
  w.gas(kGasSystemIo, kAcpiPmTmrLen * 8, 0, kAcpiPmTmrPort);    // X_PM_TMR_BLK
  w.gas(0, 0, 0, 0);                                            // X_GPE0_BLK
  w.gas(0, 0, 0, 0);                                            // X_GPE1_BLK
  w.gas(0, 0, 0, 0);  // SLEEP_CONTROL_REG (hardware-reduced only)
  w.gas(0, 0, 0, 0);  // SLEEP_STATUS_REG
  w.u64(0);  // Hypervisor Vendor Identity
  return w.finish();
}

TableBytes build_facs() {
  // No header/checksum; 64 bytes, 64-byte aligned. Present because a
  // non-reduced platform has the global lock here; nothing uses waking.
  ByteWriter w;
  w.chars("FACS", 4);
  w.u32(64);  // length
  w.u32(0);   // hardware signature
  w.u32(0);   // firmware waking vector
  w.u32(0);   // global lock
  w.u32(0);   // flags
  w.u64(0);   // X firmware waking vector
  w.u8(2);    // version
  w.zeros(3);
  w.u32(0);  // OSPM flags
  w.zeros(24);
  return std::move(w.data());
}

}  // namespace insula::x86
