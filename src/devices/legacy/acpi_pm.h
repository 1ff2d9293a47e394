// ACPI fixed power-management hardware: PM1a event block (status/enable),
// PM1a control block (sleep/power-off) and the PM timer, as one port-I/O
// device at layout.h's kAcpiPmBase (size kAcpiPmSize).
//
// The FADT built by arch/x86/acpi.h points the guest at these registers.
// Writing SLP_TYP=S5 with SLP_EN to PM1a_CNT is how an ACPI guest powers
// off; the SCI (ISA IRQ 9, level) is raised while an enabled status bit is
// set, e.g. after press_power_button().
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>

#include "devices/interrupts.h"
#include "devices/io_bus.h"

namespace insula {

// What a snapshot keeps. The timer is stored as its value so it continues
// from there after restore, whatever the new host's clock reads.
struct AcpiPmState {
  static constexpr uint32_t kVersion = 1;
  uint32_t version = kVersion;
  uint16_t pm1_sts = 0;
  uint16_t pm1_en = 0;
  uint16_t pm1_cnt = 0;
  uint32_t timer = 0;
};

class AcpiPm : public BusDevice {
 public:
  // PM1 status / enable bits (ACPI 6.5 §4.8.3.1).
  static constexpr uint16_t kTmrSts = 1 << 0;
  static constexpr uint16_t kGblSts = 1 << 5;
  static constexpr uint16_t kPwrBtnSts = 1 << 8;
  static constexpr uint16_t kWakSts = 1 << 15;
  // PM1 control bits.
  static constexpr uint16_t kSciEn = 1 << 0;
  static constexpr uint16_t kSlpTypShift = 10;
  static constexpr uint16_t kSlpTypMask = 7 << kSlpTypShift;
  static constexpr uint16_t kSlpEn = 1 << 13;
  // PM timer frequency.
  static constexpr uint64_t kTimerHz = 3579545;

  // on_poweroff runs on the vCPU thread that wrote S5 (it must only ask the
  // machine to stop); sci may be null (no interrupt, e.g. in tests).
  AcpiPm(std::function<void()> on_poweroff, std::shared_ptr<IrqLine> sci);

  void read(uint64_t offset, std::span<uint8_t> data) override;
  void write(uint64_t offset, std::span<const uint8_t> data) override;

  // Host-side request for an orderly shutdown: sets PWRBTN_STS and raises
  // the SCI when the guest enabled it (Linux's button driver does).
  void press_power_button();

  AcpiPmState save() const;
  // Throws Error on an unknown state version.
  void restore(const AcpiPmState& s);

 private:
  uint32_t timer_locked() const;
  void update_sci_locked();

  const std::function<void()> on_poweroff_;
  const std::shared_ptr<IrqLine> sci_;
  mutable std::mutex mu_;
  uint16_t pm1_sts_ = 0;
  uint16_t pm1_en_ = 0;
  uint16_t pm1_cnt_ = kSciEn;  // no SMI_CMD: always in ACPI mode
  uint32_t timer_offset_ = 0;  // added to the clock-derived count
  bool sci_level_ = false;
};

}  // namespace insula
