// The shared command-line skeleton of insula and insula-tools.
#include "cli/app.h"

#include <exception>
#include <string>

#include "base/log.h"

namespace insula::cli {

int run_app(int argc, char** argv, const std::function<void(CLI::App&, Context&)>& add_commands) {
  CLI::App app{"insula: virtual machines, disk images and containers on Linux"};
  app.set_version_flag("--version", std::string("insula ") + INSULA_VERSION);
  app.require_subcommand(1);
  Context ctx;
  app.add_flag("--debug", ctx.debug, "verbose logs and register dumps on errors");
  app.parse_complete_callback([&] { log::init(ctx.debug ? log::Level::kDebug : log::Level::kWarn); });
  add_commands(app, ctx);
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

}  // namespace insula::cli
