// Entry point of insula-tools: every `insula` command (the `insula` binary
// hands over all but run/vmm, see entry/insula.cc), and `insula-runc` by argv[0].
#include <cstring>
#include <exception>
#include <string>

#include "base/error.h"
#include "base/log.h"
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

  CLI::App app{"insula: virtual machines, disk images and containers on Linux"};
  app.set_version_flag("--version", std::string("insula ") + INSULA_VERSION);
  app.require_subcommand(1);
  cli::Context ctx;
  app.add_flag("--debug", ctx.debug, "verbose logs and register dumps on errors");
  app.parse_complete_callback([&] { log::init(ctx.debug ? log::Level::kDebug : log::Level::kWarn); });

  cli::add_run_command(app, ctx);
  cli::add_img_commands(app, ctx);
  cli::add_container_commands(app, ctx);
  cli::add_vm_commands(app, ctx);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const std::exception& e) {
    fmt::print(stderr, "insula: error: {}\n", e.what());
    return 1;
  }
  return ctx.exit_code;
}
