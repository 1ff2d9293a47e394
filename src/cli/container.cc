// `insula container ...` and `insula image ...`: containers from stored images
// (the library's Containers and ImageStore); `insula-runc` is in runc.cc.
#include <memory>

#include "base/error.h"
#include "cli/commands.h"
#include "container/managed.h"

namespace insula::cli {
namespace {

using namespace insula::container;

struct Shared {
  std::string state_dir;
  std::string image, name, id, creds;
  std::vector<std::string> args, env;
  bool detach = false, rm = false, force = false, tty = false;
  int timeout = 10;
  std::string path;
  Containers open() { return Containers(state_dir.empty() ? default_state_dir() : state_dir); }
};

void add_image_commands(CLI::App& app, Context& ctx, std::shared_ptr<Shared> s) {
  auto* img = app.add_subcommand("image", "the image store (import, ls, inspect, rm)");
  img->require_subcommand(1);
  img->add_option("--state-dir", s->state_dir, "store location (default $INSULA_STATE_DIR or /var/lib/insula)");

  auto* imp = img->add_subcommand("import", "import a docker-save archive or an OCI image layout (dir or tar)");
  imp->add_option("path", s->path)->required();
  imp->add_option("--name", s->name, "name:tag for the image");
  imp->callback([s] {
    auto c = s->open();
    for (const auto& i : c.images().import(s->path, s->name)) fmt::print("{} {}\n", i.name, i.id);
  });
  auto* pull = img->add_subcommand("pull", "pull HOST[:PORT]/NAME[:TAG|@DIGEST] from a registry (digests verified)");
  pull->add_option("reference", s->image)->required();
  pull->add_flag("--plain-http", s->force, "HTTP instead of HTTPS (loopback registries use HTTP anyway)");
  pull->add_option("--creds", s->creds, "USER:PASSWORD for a registry that asks for authentication (Basic or token)")
      ->envname("INSULA_REGISTRY_CREDS");
  pull->callback([s] {
    auto c = s->open();
    Image i = c.images().pull(s->image, s->force, s->creds);
    fmt::print("{} {}\n", i.name, i.id);
  });
  auto* ls = img->add_subcommand("ls", "list images");
  ls->callback([s] {
    auto c = s->open();
    fmt::print("{:<40} {:<14} {}\n", "NAME", "ID", "LAYERS");
    for (const auto& i : c.images().list()) fmt::print("{:<40} {:<14} {}\n", i.name, i.id.substr(7, 12), i.layers.size());
  });
  auto* inspect = img->add_subcommand("inspect", "print an image's record as JSON");
  inspect->add_option("image", s->image)->required();
  inspect->callback([s] {
    auto c = s->open();
    Image i = c.images().get(s->image);
    fmt::print("{}\n", nlohmann::json{{"name", i.name}, {"id", i.id}, {"layers", i.layers}, {"config", i.config}}.dump(2));
  });
  auto* rm = img->add_subcommand("rm", "remove an image (and layers no other image uses)");
  rm->add_option("image", s->image)->required();
  rm->callback([s] { s->open().images().remove(s->image); });
  (void)ctx;
}

}  // namespace

void add_container_commands(CLI::App& app, Context& ctx) {
  auto s = std::make_shared<Shared>();
  add_image_commands(app, ctx, s);
  auto* ct = app.add_subcommand("container", "containers from stored images");
  ct->require_subcommand(1);
  ct->add_option("--state-dir", s->state_dir, "store location (default $INSULA_STATE_DIR or /var/lib/insula)");

  auto add_create_opts = [s](CLI::App* c) {
    c->add_option("--name", s->name);
    c->add_option("-e,--env", s->env);
    c->add_option("image", s->image)->required();
    c->add_option("args", s->args);
    c->positionals_at_end();
  };
  auto* create = ct->add_subcommand("create", "create a container (started by `start`)");
  add_create_opts(create);
  create->callback([s] {
    auto c = s->open();
    fmt::print("{}\n", c.create({s->image, s->args, s->env, s->name, true}));
  });
  auto* run = ct->add_subcommand("run", "create and start a container");
  run->add_flag("-d,--detach", s->detach);
  run->add_flag("--rm", s->rm);
  run->add_flag("-t,--tty", s->tty, "a pseudo-terminal for the process (foreground only)");
  add_create_opts(run);
  run->callback([s, &ctx] {
    auto c = s->open();
    std::string id;
    ctx.exit_code = c.run({s->image, s->args, s->env, s->name, s->detach, s->tty}, s->detach, s->rm, &id);
    if (s->detach) fmt::print("{}\n", id);
  });
  auto* start = ct->add_subcommand("start", "start a created container");
  start->add_option("id", s->id)->required();
  start->callback([s] { s->open().start(s->id); });
  auto* exec = ct->add_subcommand("exec", "run a command in a running container");
  exec->add_option("id", s->id)->required();
  exec->add_option("args", s->args)->required();
  exec->positionals_at_end();
  exec->callback([s, &ctx] { ctx.exit_code = s->open().exec(s->id, s->args); });
  auto* ps = ct->add_subcommand("ps", "list containers");
  ps->callback([s] {
    auto c = s->open();
    fmt::print("{:<16} {:<30} {:<10} {}\n", "ID", "IMAGE", "STATUS", "COMMAND");
    for (const auto& i : c.list()) {
      std::string cmd;
      for (const auto& a : i.args) cmd += (cmd.empty() ? "" : " ") + a;
      fmt::print("{:<16} {:<30} {:<10} {}\n", i.id, i.image, i.status, cmd);
    }
  });
  auto* stop = ct->add_subcommand("stop", "SIGTERM, then SIGKILL after --time seconds");
  stop->add_option("-t,--time", s->timeout);
  stop->add_option("id", s->id)->required();
  stop->callback([s] { s->open().stop(s->id, s->timeout); });
  auto* rm = ct->add_subcommand("rm", "remove a container");
  rm->add_flag("-f,--force", s->force);
  rm->add_option("id", s->id)->required();
  rm->callback([s] { s->open().remove(s->id, s->force); });
  auto* logs = ct->add_subcommand("logs", "print a detached container's output");
  logs->add_option("id", s->id)->required();
  logs->callback([s] { fmt::print("{}", s->open().logs(s->id)); });
}

}  // namespace insula::cli
