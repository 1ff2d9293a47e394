// `insula run`: boot a kernel on KVM with the serial console on the terminal.
#include "cli/commands.h"

namespace insula::cli {

void add_run_command(CLI::App& app, Context&) {
  app.add_subcommand("run", "boot a kernel in a virtual machine");
}

}  // namespace insula::cli
