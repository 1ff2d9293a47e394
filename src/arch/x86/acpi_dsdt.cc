// DSDT: the AML namespace the guest's ACPI interpreter loads: the \_S5
// sleep type for power-off, one processor device per CPU, the ISA devices,
// and (with PCI) the host bridge with its windows and INTx routing.
#include <fmt/format.h>

#include "arch/x86/acpi_tables.h"
#include "arch/x86/aml.h"

namespace insula::x86 {
namespace {

constexpr uint8_t kDsdtRevision = 2;  // 2: AML integers are 64-bit

aml::Bytes cpus(const AcpiConfig& cfg) {
  std::vector<aml::Bytes> out;
  for (int i = 0; i < cfg.num_cpus; ++i) {
    // _UID matches the MADT's ACPI processor UID.
    out.push_back(aml::device(fmt::format("C{:03X}", i), {
                                                             aml::name("_HID", aml::string("ACPI0007")),
                                                             aml::name("_UID", aml::integer(uint64_t(i))),
                                                         }));
  }
  return aml::join(out);
}

aml::Bytes com1() {
  return aml::device("COM1", {
                                 aml::name("_HID", aml::eisa_id("PNP0501")),
                                 aml::name("_UID", aml::integer(1)),
                                 aml::name("_CRS", aml::ResourceTemplate().io(kCom1Port, kCom1Port, 1, 8).irq(kCom1Irq).build()),
                             });
}

aml::Bytes rtc() {
  return aml::device("RTC", {
                                aml::name("_HID", aml::eisa_id("PNP0B00")),
                                aml::name("_CRS", aml::ResourceTemplate().io(kRtcPort, kRtcPort, 1, 2).irq(kRtcIrq).build()),
                            });
}

aml::Bytes pci_host_bridge(const AcpiConfig& cfg) {
  aml::ResourceTemplate crs;
  crs.bus_numbers(0, uint16_t(cfg.pci_bus_end + 1));
  crs.io(kPciConfigPort, kPciConfigPort, 1, 8);  // the bridge's own config ports
  crs.io_window(cfg.pci_io_base, cfg.pci_io_size);
  crs.mmio32_window(uint32_t(cfg.mmio32_base), cfg.mmio32_size);
  if (cfg.mmio64_size) crs.mmio64_window(cfg.mmio64_base, cfg.mmio64_size);

  // _PRT entries: {address (slot << 16 | 0xFFFF: any function), pin,
  // source 0 (a GSI, not a link device), GSI}.
  std::vector<aml::Bytes> prt;
  for (const auto& r : cfg.intx) {
    prt.push_back(aml::package({aml::dword((uint32_t(r.slot) << 16) | 0xFFFF), aml::integer(r.pin), aml::integer(0),
                                aml::integer(r.gsi)}));
  }
  return aml::device("PCI0", {
                                 aml::name("_HID", aml::eisa_id("PNP0A08")),  // PCI Express root bridge
                                 aml::name("_CID", aml::eisa_id("PNP0A03")),  // PCI root bridge
                                 aml::name("_SEG", aml::integer(0)),
                                 aml::name("_BBN", aml::integer(0)),
                                 aml::name("_UID", aml::integer(0)),
                                 aml::name("_CRS", crs.build()),
                                 aml::name("_PRT", aml::package(prt)),
                             });
}

// Motherboard resources: Linux only uses MMCONFIG space that firmware
// reserves, in e820 or here.
aml::Bytes ecam_reservation(const AcpiConfig& cfg) {
  uint64_t len = (uint64_t(cfg.pci_bus_end) + 1) * kPciEcamBusSize;
  aml::ResourceTemplate crs;
  if (cfg.ecam_base + len <= (1ull << 32))
    crs.memory32_fixed(uint32_t(cfg.ecam_base), uint32_t(len));
  else
    crs.memory64_consumer(cfg.ecam_base, len);
  return aml::device("MRES", {
                                 aml::name("_HID", aml::eisa_id("PNP0C02")),
                                 aml::name("_UID", aml::integer(0)),
                                 aml::name("_CRS", crs.build()),
                             });
}

}  // namespace

TableBytes build_dsdt(const AcpiConfig& cfg) {
  std::vector<aml::Bytes> sb{cpus(cfg)};
  if (cfg.com1) sb.push_back(com1());
  if (cfg.rtc) sb.push_back(rtc());
  if (cfg.pci) {
    sb.push_back(pci_host_bridge(cfg));
    sb.push_back(ecam_reservation(cfg));
  }
  SdtWriter w("DSDT", kDsdtRevision);
  // \_S5: {PM1a SLP_TYP, PM1b SLP_TYP, reserved, reserved}. Only S5 is
  // offered, so the guest never tries a sleep state we do not model.
  w.bytes(aml::name("\\_S5", aml::package({aml::integer(kAcpiSlpTypS5), aml::integer(kAcpiSlpTypS5), aml::integer(0),
                                             aml::integer(0)})));
  w.bytes(aml::scope("\\_SB", sb));
  return w.finish();
}

}  // namespace insula::x86
