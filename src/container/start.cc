// `start`: releases the process that create left blocked on exec.fifo, then poststart hooks.
#include <fcntl.h>
#include <unistd.h>

#include <optional>

#include "base/error.h"
#include "container/hooks.h"
#include "container/runtime.h"

namespace insula::container {

void start_container(const Runtime& rt, const std::string& id, const Config* config) {
  ContainerRecord rec = load_record(rt, id);
  Status s = container_status(rt, rec);
  if (s == Status::kStopped) throw error("cannot start a container that has stopped");
  if (s != Status::kCreated) throw error("cannot start an already running container");
  std::string fifo = exec_fifo_path(rt, id);
  // Non-blocking: ENXIO means nobody holds the fifo, i.e. the init process is gone.
  UniqueFd fd(::open(fifo.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC));
  if (!fd) {
    if (errno == ENXIO) throw error("cannot start a container that has stopped");
    throw errno_error(fmt::format("open {}", fifo));
  }
  if (::write(fd.get(), "0", 1) != 1) throw errno_error(fmt::format("write {}", fifo));
  ::unlink(fifo.c_str());
  try {
    std::optional<Config> loaded;
    const Config& c = config ? *config : loaded.emplace(load_config(rec.bundle));
    if (!c.hooks.poststart.empty()) run_hooks(c.hooks.poststart, "poststart", state_json(rt, rec).dump());
  } catch (const Error& e) {
    // The spec: a failing poststart hook is logged; the container keeps running.
    fmt::print(stderr, "insula-runc: warning: {}\n", e.what());
  }
}

}  // namespace insula::container
