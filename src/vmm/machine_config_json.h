// MachineConfig <-> JSON: how a snapshot records the machine it was taken
// from (and, later, what a migration sender tells the receiver to build).
#pragma once

#include <string>

#include "vmm/machine_config.h"

namespace insula::vmm {

std::string config_to_json(const MachineConfig& c);
// Throws Error naming the field when the text is not a valid config.
MachineConfig config_from_json(const std::string& text);

}  // namespace insula::vmm
