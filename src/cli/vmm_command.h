// `insula vmm`, the per-VM VMM process (in both insula and insula-tools).
#pragma once

#include "cli/commands.h"

namespace insula::cli {

void add_vmm_command(CLI::App& app, Context& ctx);  // vmm.cc

}  // namespace insula::cli
