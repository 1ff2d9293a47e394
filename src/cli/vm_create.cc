// `insula vm create NAME --kernel K [--initrd I] [--cmdline C] --cpus N --memory SIZE`: records only.
#include "base/size.h"
#include "cli/vm_commands.h"

namespace insula::cli {

void add_vm_create(CLI::App& vm, Context& ctx, std::shared_ptr<VmCommon> common) {
  struct Opts {
    manager::VmSpec spec;
    std::string memory = "256M";
  };
  auto o = std::make_shared<Opts>();
  auto* cmd = vm.add_subcommand("create", "record a new VM (it does not start it)");
  cmd->add_option("name", o->spec.name, "the VM's name")->required();
  cmd->add_option("--kernel,-k", o->spec.kernel, "kernel to boot")->required()->check(CLI::ExistingFile);
  cmd->add_option("--initrd", o->spec.initrd, "initial ramdisk")->check(CLI::ExistingFile);
  cmd->add_option("--cmdline,--append", o->spec.cmdline, "kernel command line");
  cmd->add_option("--cpus,-c", o->spec.cpus, "number of vCPUs (1-32)")->capture_default_str();
  cmd->add_option("--memory,-m", o->memory, "guest RAM (suffixes K, M, G; plain numbers are MiB)")->capture_default_str();
  cmd->callback([o, common, &ctx] {
    run_verb(ctx, [&] {
      o->spec.memory = parse_size(o->memory, 1 << 20);
      auto r = open_manager(*common).create(o->spec);
      fmt::print("{}\n", r.name);
    });
  });
}

}  // namespace insula::cli
