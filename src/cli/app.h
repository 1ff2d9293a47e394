// The `insula` command line shared by both binaries (insula and
// insula-tools): global flags, logging set-up, parsing and the one-line error.
#pragma once

#include <functional>

#include "cli/commands.h"

namespace insula::cli {

// Builds the app, lets add_commands register subcommands, parses argv and
// runs the chosen one. Returns the process exit status.
int run_app(int argc, char** argv, const std::function<void(CLI::App&, Context&)>& add_commands);

}  // namespace insula::cli
