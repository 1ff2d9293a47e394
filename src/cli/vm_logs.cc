// `insula vm logs NAME [-f]`: the VM's console log; -f follows it while the
// VM runs (and ends when it stops).
#include <fcntl.h>
#include <unistd.h>

#include <thread>

#include "base/error.h"
#include "base/fd.h"
#include "cli/vm_commands.h"

namespace insula::cli {

namespace {

// Copies what fd has from its offset to stdout; returns bytes copied.
size_t copy_out(int fd) {
  char buf[65536];
  size_t total = 0;
  while (true) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return total;
    for (ssize_t done = 0; done < n;) {
      ssize_t w = ::write(STDOUT_FILENO, buf + done, n - done);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) throw errno_error("writing the log to stdout");
      done += w;
    }
    total += n;
  }
}

}  // namespace

void add_vm_logs(CLI::App& vm, Context& ctx, std::shared_ptr<VmCommon> common) {
  struct Opts {
    std::string name;
    bool follow = false;
  };
  auto o = std::make_shared<Opts>();
  auto* cmd = vm.add_subcommand("logs", "print a VM's console log (kept across restarts)");
  cmd->add_option("name", o->name, "the VM's name")->required();
  cmd->add_flag("--follow,-f", o->follow, "keep printing new output while the VM runs");
  cmd->callback([o, common, &ctx] {
    run_verb(ctx, [&] {
      auto m = open_manager(*common);
      auto r = m.info(o->name);
      UniqueFd fd(::open(r.log_path.c_str(), O_RDONLY | O_CLOEXEC));
      if (!fd) {
        if (errno == ENOENT) return;  // never started: no output yet
        throw errno_error(fmt::format("cannot open {}", r.log_path));
      }
      copy_out(fd.get());
      while (o->follow) {
        if (copy_out(fd.get()) > 0) continue;
        if (m.info(o->name).pid == 0) {
          copy_out(fd.get());  // what it wrote before it ended
          break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
      }
    });
  });
}

}  // namespace insula::cli
