// `insula vm`: named VMs kept in the state directory, each running in its
// own detached VMM process. The verbs live in vm_<verb>.cc.
#include <unistd.h>

#include <climits>

#include "base/error.h"
#include "cli/vm_commands.h"
#include "manager/state_dir.h"

namespace insula::cli {

manager::VmManager open_manager(const VmCommon& common) {
  char exe[PATH_MAX];
  ssize_t n = ::readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n <= 0) throw errno_error("cannot find the insula binary (/proc/self/exe)");
  // VMMs run as the lean `insula` next to this insula-tools (cli/entry/
  // insula.cc): this binary serves `vmm` too, but loads 49 shared libraries
  // a VM's process does not need, tens of milliseconds of every VM start.
  std::string self(exe, static_cast<size_t>(n));
  std::string lean = self.substr(0, self.rfind('/') + 1) + "insula";
  return manager::VmManager(manager::resolve_state_dir(common.state_dir),
                            ::access(lean.c_str(), X_OK) == 0 ? lean : self);
}

void run_verb(Context& ctx, const std::function<void()>& verb) {
  try {
    verb();
  } catch (const std::exception& e) {
    fmt::print(stderr, "insula: error: {}\n", e.what());
    ctx.exit_code = 1;
  }
}

nlohmann::json vm_json(const manager::VmRecord& r) {
  nlohmann::json j{{"name", r.name},       {"state", r.state},     {"cpus", r.cpus},
                   {"memory_mib", r.memory >> 20}, {"kernel", r.kernel}, {"initrd", r.initrd},
                   {"cmdline", r.cmdline}, {"pid", r.pid},         {"api_socket", r.api_socket},
                   {"console_socket", r.console_socket}, {"log", r.log_path}, {"created_at", r.created_at}};
  auto devices = nlohmann::json::parse(r.devices, nullptr, false);
  j["devices"] = devices.is_discarded() ? nlohmann::json::object() : devices;
  return j;
}

void add_vm_commands(CLI::App& app, Context& ctx) {
  add_vmm_command(app, ctx);
  auto* vm = app.add_subcommand("vm", "named virtual machines: create, start, stop, list, console...");
  vm->require_subcommand(1);
  auto common = std::make_shared<VmCommon>();
  // Accepted before or after the verb (fallthrough).
  vm->add_option("--state-dir", common->state_dir, "state directory (default $INSULA_STATE_DIR or /var/lib/insula)");
  vm->fallthrough();
  add_vm_create(*vm, ctx, common);
  add_vm_start(*vm, ctx, common);
  add_vm_stop(*vm, ctx, common);
  add_vm_pause(*vm, ctx, common);
  add_vm_list(*vm, ctx, common);
  add_vm_info(*vm, ctx, common);
  add_vm_logs(*vm, ctx, common);
  add_vm_rm(*vm, ctx, common);
  add_vm_console(*vm, ctx, common);
  add_vm_snapshot(*vm, ctx, common);
  add_vm_balloon(*vm, ctx, common);
  add_vm_export(*vm, ctx, common);
  add_vm_image(*vm, ctx, common);
}

}  // namespace insula::cli
