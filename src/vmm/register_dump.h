// A readable dump of a vCPU's registers, for --debug.
#pragma once

#include <string>

#include "kvm/kvm.h"

namespace insula::vmm {

std::string dump_registers(const kvm::Vcpu& vcpu);

}  // namespace insula::vmm
