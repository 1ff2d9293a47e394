// `insula vm stop NAME [--timeout S] [--method acpi|ctrl-alt-del] [--force]`
// (ACPI power button or Ctrl-Alt-Del, then the VMM's shutdown, then SIGKILL) and `insula vm kill NAME` (SIGKILL at once).
#include "cli/vm_commands.h"

namespace insula::cli {

void add_vm_stop(CLI::App& vm, Context& ctx, std::shared_ptr<VmCommon> common) {
  struct Opts {
    std::string name;
    double timeout = 10;
    bool force = false;
    manager::VmManager::StopMethod method = manager::VmManager::StopMethod::kAcpi;
  };
  auto o = std::make_shared<Opts>();
  auto* stop = vm.add_subcommand(
      "stop",
      "stop a VM: press its ACPI power button (or Ctrl-Alt-Del), stop it at once if the guest has not powered off after "
      "--timeout");
  stop->add_option("name", o->name, "the VM's name")->required();
  stop->add_option("--timeout,-t", o->timeout, "seconds the guest gets to power off")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 3600.0));
  using M = manager::VmManager::StopMethod;
  stop->add_option("--method", o->method, "how the guest is asked: acpi (the power button) or ctrl-alt-del (the keys "
                                           "on its PS/2 keyboard)")
      ->transform(CLI::CheckedTransformer(std::map<std::string, M>{{"acpi", M::kAcpi}, {"ctrl-alt-del", M::kCtrlAltDel}}))
      ->default_str("acpi");
  stop->add_flag("--force,-f", o->force, "do not ask the guest: stop the VM at once");
  stop->callback([o, common, &ctx] {
    run_verb(ctx, [&] {
      auto how = open_manager(*common).stop(o->name, std::chrono::milliseconds(static_cast<int64_t>(o->timeout * 1000)),
                                            o->force, o->method);
      using K = manager::VmManager::StopKind;
      const char* why = how == K::kGuest  ? "the guest powered off"
                        : how == K::kVmm  ? (o->force ? "stopped at once" : "the guest did not power off: stopped at once")
                                          : "its VMM did not answer: killed";
      fmt::print("{} stopped ({})\n", o->name, why);
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
