// Entry point of `insula`: the VM process itself (`run`, `vmm`) lives here, in
// a binary that loads only what a VM needs; every other command (img,
// container, image, vm, --help) is handed to insula-tools next to it, which
// links the image store, the container runtime and VM management (49 shared
// libraries: ~9 MB more RSS and milliseconds of dynamic linking that a VM's
// process would otherwise pay; see bench/vmm).
#include <limits.h>
#include <unistd.h>

#include <cstring>
#include <exception>
#include <string>

#include "base/log.h"
#include "cli/commands.h"
#include "cli/vmm_command.h"

namespace {

// The first word that is not a global flag (--debug).
const char* subcommand(int argc, char** argv) {
  for (int i = 1; i < argc; ++i)
    if (argv[i][0] != '-') return argv[i];
  return nullptr;
}

[[noreturn]] void exec_tools(char** argv) {
  char self[PATH_MAX];
  ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
  std::string path = n > 0 ? std::string(self, static_cast<size_t>(n)) : std::string(argv[0]);
  path = path.substr(0, path.rfind('/') + 1) + "insula-tools";
  ::execv(path.c_str(), argv);
  fmt::print(stderr, "insula: error: cannot run {}: {}\n", path, std::strerror(errno));
  ::_exit(127);
}

}  // namespace

int main(int argc, char** argv) {
  using namespace insula;
  const char* sub = subcommand(argc, argv);
  if (!sub || (std::strcmp(sub, "run") != 0 && std::strcmp(sub, "vmm") != 0)) exec_tools(argv);

  CLI::App app{"insula: virtual machines, disk images and containers on Linux"};
  app.set_version_flag("--version", std::string("insula ") + INSULA_VERSION);
  app.require_subcommand(1);
  cli::Context ctx;
  app.add_flag("--debug", ctx.debug, "verbose logs and register dumps on errors");
  app.parse_complete_callback([&] { log::init(ctx.debug ? log::Level::kDebug : log::Level::kWarn); });
  cli::add_run_command(app, ctx);
  cli::add_vmm_command(app, ctx);
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
