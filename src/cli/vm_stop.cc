// `insula vm stop NAME [--timeout S]` (shutdown over the API, then SIGKILL)
// and `insula vm kill NAME` (SIGKILL at once).
#include "cli/vm_commands.h"

namespace insula::cli {

void add_vm_stop(CLI::App& vm, Context& ctx, std::shared_ptr<VmCommon> common) {
  struct Opts {
    std::string name;
    double timeout = 10;
  };
  auto o = std::make_shared<Opts>();
  auto* stop = vm.add_subcommand("stop", "stop a VM: ask its VMM to shut down, SIGKILL it after --timeout");
  stop->add_option("name", o->name, "the VM's name")->required();
  stop->add_option("--timeout,-t", o->timeout, "seconds to wait before killing it")->capture_default_str();
  stop->callback([o, common, &ctx] {
    run_verb(ctx, [&] {
      open_manager(*common).stop(o->name, std::chrono::milliseconds(static_cast<int64_t>(o->timeout * 1000)));
      fmt::print("{} stopped\n", o->name);
    });
  });

  auto name = std::make_shared<std::string>();
  auto* kill = vm.add_subcommand("kill", "kill a VM's VMM process at once (SIGKILL)");
  kill->add_option("name", *name, "the VM's name")->required();
  kill->callback([name, common, &ctx] {
    run_verb(ctx, [&] {
      open_manager(*common).kill(*name);
      fmt::print("{} killed\n", *name);
    });
  });
}

}  // namespace insula::cli
