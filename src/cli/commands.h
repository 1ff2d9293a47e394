// The subcommands of `insula`: each area of the CLI adds its own to the app.
// cli/ parses and prints; the libraries under src/ decide and do.
#pragma once

#include <CLI/CLI.hpp>

namespace insula::cli {

// What every subcommand shares: set exit_code from a callback to end with it.
struct Context {
  int exit_code = 0;
  bool debug = false;
};

void add_run_command(CLI::App& app, Context& ctx);        // run.cc
void add_img_commands(CLI::App& app, Context& ctx);       // img*.cc
void add_container_commands(CLI::App& app, Context& ctx);  // container*.cc
void add_vm_commands(CLI::App& app, Context& ctx);         // vm*.cc, vmm.cc

// The runc-compatible entry point, used when the binary is invoked as
// `insula-runc` (a symlink next to build/insula).
int runc_main(int argc, char** argv);

}  // namespace insula::cli
