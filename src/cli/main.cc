// Entry point of insula-tools: every `insula` command (the `insula` binary
// hands over all but run/vmm, see entry/insula.cc), and `insula-runc` by argv[0].
#include <cstring>

#include "base/error.h"
#include "cli/app.h"
#include "cli/commands.h"

namespace {

bool invoked_as(const char* argv0, const char* name) {
  const char* base = std::strrchr(argv0, '/');
  base = base ? base + 1 : argv0;
  return std::strcmp(base, name) == 0;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace insula;
  if (argc > 0 && invoked_as(argv[0], "insula-runc")) return cli::runc_main(argc, argv);

  return cli::run_app(argc, argv, [](CLI::App& app, cli::Context& ctx) {
    cli::add_run_command(app, ctx);
    cli::add_img_commands(app, ctx);
    cli::add_container_commands(app, ctx);
    cli::add_vm_commands(app, ctx);
  });
}
