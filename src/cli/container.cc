// `insula container ...` and the `insula-runc` entry (owned by the containers work).
#include <fmt/format.h>

#include "cli/commands.h"

namespace insula::cli {

void add_container_commands(CLI::App&, Context&) {}

int runc_main(int, char**) {
  fmt::print(stderr, "insula-runc: not implemented yet\n");
  return 1;
}

}  // namespace insula::cli
