// `insula vm pause NAME` and `insula vm resume NAME`.
#include "cli/vm_commands.h"

namespace insula::cli {

void add_vm_pause(CLI::App& vm, Context& ctx, std::shared_ptr<VmCommon> common) {
  for (bool pausing : {true, false}) {
    auto name = std::make_shared<std::string>();
    auto* cmd = vm.add_subcommand(pausing ? "pause" : "resume",
                                  pausing ? "pause a running VM's vCPUs" : "resume a paused VM");
    cmd->add_option("name", *name, "the VM's name")->required();
    cmd->callback([name, common, pausing, &ctx] {
      run_verb(ctx, [&] {
        auto m = open_manager(*common);
        auto r = pausing ? m.pause(*name) : m.resume(*name);
        fmt::print("{} {}\n", r.name, r.state);
      });
    });
  }
}

}  // namespace insula::cli
