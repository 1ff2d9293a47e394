// `insula vmm`: the per-VM VMM process (internal; `insula vm start` spawns
// it). Serves the REST API on --api-sock and the console on --console-sock.
#include <fmt/core.h>

#include "api/vmm_process.h"
#include "cli/commands.h"
#include "cli/vmm_command.h"

namespace insula::cli {

void add_vmm_command(CLI::App& app, Context& ctx) {
  auto opts = std::make_shared<api::VmmProcessOptions>();
  auto* cmd = app.add_subcommand("vmm", "");  // empty description: hidden from --help
  cmd->group("");
  cmd->add_option("--api-sock", opts->api_socket, "unix socket to serve the API on")->required();
  cmd->add_option("--console-sock", opts->console_socket, "unix socket for console clients (default: API socket + .console)");
  cmd->add_option("--id", opts->id, "the VM's name, reported by GET /");
  cmd->add_option("--log", opts->log_path, "file the guest console is appended to");
  cmd->add_option("--ready-fd", opts->ready_fd, "inherited fd to write one byte to (then close) once the API listens");
  cmd->add_option_function<uint64_t>(
      "--memory-hint-mib", [opts](uint64_t mib) { opts->memory_hint = mib << 20; },
      "RAM the VM will likely have: it is prepared before the first request");
  cmd->callback([opts, &ctx] {
    try {
      ctx.exit_code = api::run_vmm_process(*opts);
    } catch (const std::exception& e) {
      fmt::print(stderr, "insula vmm: error: {}\n", e.what());
      ctx.exit_code = 125;
    }
  });
}

}  // namespace insula::cli
