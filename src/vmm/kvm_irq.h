// IrqLine backed by KVM's in-kernel interrupt controllers.
#pragma once

#include "devices/interrupts.h"
#include "kvm/kvm.h"

namespace insula::vmm {

class KvmIrqLine : public IrqLine {
 public:
  KvmIrqLine(kvm::Vm& vm, uint32_t gsi) : vm_(vm), gsi_(gsi) {}
  void set_level(bool high) override { vm_.set_irq_line(gsi_, high); }

 private:
  kvm::Vm& vm_;
  uint32_t gsi_;
};

}  // namespace insula::vmm
