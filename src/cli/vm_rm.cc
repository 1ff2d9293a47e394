// `insula vm rm NAME [--force]`: forget a VM and delete its files.
#include "cli/vm_commands.h"

namespace insula::cli {

void add_vm_rm(CLI::App& vm, Context& ctx, std::shared_ptr<VmCommon> common) {
  struct Opts {
    std::string name;
    bool force = false;
  };
  auto o = std::make_shared<Opts>();
  auto* cmd = vm.add_subcommand("rm", "remove a VM (refuses a running one without --force)");
  cmd->add_option("name", o->name, "the VM's name")->required();
  cmd->add_flag("--force,-f", o->force, "kill it first if it runs");
  cmd->callback([o, common, &ctx] {
    run_verb(ctx, [&] {
      open_manager(*common).remove(o->name, o->force);
      fmt::print("{} removed\n", o->name);
    });
  });
}

}  // namespace insula::cli
