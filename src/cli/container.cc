// `insula container ...`: not implemented yet; containers run through `insula-runc`
// (the runc-compatible entry in runc.cc).
#include "cli/commands.h"

namespace insula::cli {

void add_container_commands(CLI::App&, Context&) {}

}  // namespace insula::cli
