// `insula vm start NAME`: spawn its VMM, configure it, boot the guest.
#include "cli/vm_commands.h"

namespace insula::cli {

void add_vm_start(CLI::App& vm, Context& ctx, std::shared_ptr<VmCommon> common) {
  auto name = std::make_shared<std::string>();
  auto* cmd = vm.add_subcommand("start", "start a VM in its own detached VMM process");
  cmd->add_option("name", *name, "the VM's name")->required();
  cmd->callback([name, common, &ctx] {
    run_verb(ctx, [&] {
      auto r = open_manager(*common).start(*name);
      fmt::print("{} started (pid {})\n", r.name, r.pid);
    });
  });
}

}  // namespace insula::cli
