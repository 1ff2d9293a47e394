// `insula vm list [--output json]`: every VM, reconciled with its process.
#include "base/size.h"
#include "cli/vm_commands.h"

namespace insula::cli {

void add_vm_list(CLI::App& vm, Context& ctx, std::shared_ptr<VmCommon> common) {
  auto output = std::make_shared<std::string>("table");
  auto* cmd = vm.add_subcommand("list", "list the VMs and their states");
  cmd->alias("ls");
  cmd->add_option("--output,-o", *output, "table or json")->check(CLI::IsMember({"table", "json"}));
  cmd->callback([output, common, &ctx] {
    run_verb(ctx, [&] {
      auto vms = open_manager(*common).list();
      if (*output == "json") {
        nlohmann::json j = nlohmann::json::array();
        for (const auto& r : vms) j.push_back(vm_json(r));
        fmt::print("{}\n", j.dump(2));
        return;
      }
      fmt::print("{:<20} {:<12} {:>4} {:>10} {:>8}\n", "NAME", "STATE", "CPUS", "MEMORY", "PID");
      for (const auto& r : vms)
        fmt::print("{:<20} {:<12} {:>4} {:>10} {:>8}\n", r.name, r.state, r.cpus, format_size(r.memory),
                   r.pid ? std::to_string(r.pid) : "-");
    });
  });
}

}  // namespace insula::cli
