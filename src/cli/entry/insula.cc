// Entry point of `insula`: the VM process itself (`run`, `vmm`) lives here, in
// a binary that loads only what a VM needs; every other command (img,
// container, image, vm, --help) is handed to insula-tools next to it, which
// links the image store, the container runtime and VM management (49 shared
// libraries: ~9 MB more RSS and milliseconds of dynamic linking that a VM's
// process would otherwise pay; see bench/vmm).
#include <limits.h>
#include <unistd.h>

#include <cstring>
#include <string>

#include <fmt/core.h>

#include "base/timing.h"
#include "cli/app.h"
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
  timing::mark("main");
  const char* sub = subcommand(argc, argv);
  if (!sub || (std::strcmp(sub, "run") != 0 && std::strcmp(sub, "vmm") != 0)) exec_tools(argv);

  return cli::run_app(argc, argv, [](CLI::App& app, cli::Context& ctx) {
    cli::add_run_command(app, ctx);
    cli::add_vmm_command(app, ctx);
  });
}
