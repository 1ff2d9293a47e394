// The `insula vm` verbs (one file each: vm_create.cc, vm_start.cc, ...) and
// the hidden `insula vmm` process, registered by add_vm_commands (vm.cc).
#pragma once

#include <functional>
#include <memory>
#include <string>

#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/vmm_command.h"
#include "manager/vm_manager.h"

namespace insula::cli {

// Options every `insula vm` verb shares.
struct VmCommon {
  std::string state_dir;  // --state-dir, else $INSULA_STATE_DIR, else /var/lib/insula
};

// The manager for the chosen state directory, running this binary as the VMM.
manager::VmManager open_manager(const VmCommon& common);
// Runs a verb: errors are printed as one line and give exit status 1.
void run_verb(Context& ctx, const std::function<void()>& verb);
// A record as JSON (info/list --output json) and its memory in MiB.
nlohmann::json vm_json(const manager::VmRecord& r);



// Each adds its verb under `vm`.
void add_vm_create(CLI::App& vm, Context& ctx, std::shared_ptr<VmCommon> common);
void add_vm_start(CLI::App& vm, Context& ctx, std::shared_ptr<VmCommon> common);
void add_vm_stop(CLI::App& vm, Context& ctx, std::shared_ptr<VmCommon> common);   // also kill
void add_vm_pause(CLI::App& vm, Context& ctx, std::shared_ptr<VmCommon> common);  // also resume
void add_vm_list(CLI::App& vm, Context& ctx, std::shared_ptr<VmCommon> common);
void add_vm_info(CLI::App& vm, Context& ctx, std::shared_ptr<VmCommon> common);
void add_vm_logs(CLI::App& vm, Context& ctx, std::shared_ptr<VmCommon> common);
void add_vm_rm(CLI::App& vm, Context& ctx, std::shared_ptr<VmCommon> common);
void add_vm_console(CLI::App& vm, Context& ctx, std::shared_ptr<VmCommon> common);
void add_vm_snapshot(CLI::App& vm, Context& ctx, std::shared_ptr<VmCommon> common);  // also restore, snapshots, snapshot-rm
void add_vm_balloon(CLI::App& vm, Context& ctx, std::shared_ptr<VmCommon> common);  // also balloon-stats
void add_vm_export(CLI::App& vm, Context& ctx, std::shared_ptr<VmCommon> common);   // also import
void add_vm_image(CLI::App& vm, Context& ctx, std::shared_ptr<VmCommon> common);  // image create, ls, rm

}  // namespace insula::cli
