// `insula vm`: named VMs kept in the state directory, each running in its
// own detached VMM process. The verbs live in vm_<verb>.cc.
#include "cli/vm_commands.h"

namespace insula::cli {

void add_vm_commands(CLI::App& app, Context& ctx) {
  add_vmm_command(app, ctx);
  auto* vm = app.add_subcommand("vm", "named virtual machines: create, start, stop, list, console...");
  vm->require_subcommand(1);
  auto common = std::make_shared<VmCommon>();
  // Accepted before or after the verb.
  vm->add_option("--state-dir", common->state_dir, "state directory (default $INSULA_STATE_DIR or /var/lib/insula)");
  vm->fallthrough();
}

}  // namespace insula::cli
