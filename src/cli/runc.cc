// `insula-runc`: the runc-compatible command line over the container library.
// Flags mirror runc's; errors go to stderr and, with --log, to the log file in
// runc's format (conmon/podman read it from there).
#include <unistd.h>

#include <fstream>
#include <iostream>
#include <sstream>

#include "base/error.h"
#include "base/log.h"
#include "cli/commands.h"
#include "container/runtime.h"
#include "container/security.h"

namespace insula::cli {
namespace {

using namespace insula::container;

struct Globals {
  Runtime rt;
  std::string log_file, log_format = "text";
  bool debug = false;
};

void log_error(const Globals& g, const std::string& msg) {
  fmt::print(stderr, "insula-runc: {}\n", msg);
  if (g.log_file.empty()) return;
  std::ofstream out(g.log_file, std::ios::app);
  if (g.log_format == "json")
    out << nlohmann::json{{"level", "error"}, {"msg", msg}, {"time", now_rfc3339()}}.dump() << "\n";
  else
    out << fmt::format("time=\"{}\" level=error msg=\"{}\"\n", now_rfc3339(), msg);
}

std::string read_input(const std::string& path) {
  std::stringstream ss;
  if (path == "-") {
    ss << std::cin.rdbuf();
  } else {
    std::ifstream in(path);
    if (!in) throw errno_error(fmt::format("open {}", path));
    ss << in.rdbuf();
  }
  return ss.str();
}

nlohmann::json parse_json(const std::string& text, const std::string& what) {
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw error("{}: not valid JSON: {}", what, e.what());
  }
}

void print_ps_table(const std::vector<pid_t>& pids) {
  fmt::print("{:>8} {}\n", "PID", "CMD");
  for (pid_t p : pids) {
    std::ifstream in(fmt::format("/proc/{}/cmdline", p));
    std::string cmd((std::istreambuf_iterator<char>(in)), {});
    std::replace(cmd.begin(), cmd.end(), '\0', ' ');
    fmt::print("{:>8} {}\n", p, cmd);
  }
}

}  // namespace

int runc_main(int argc, char** argv) {
  CLI::App app{"insula-runc: a runc-compatible OCI runtime"};
  Globals g;
  int code = 0;
  bool version = false;
  app.add_option("--root", g.rt.root, "state directory");
  app.add_option("--log", g.log_file, "log file for errors");
  app.add_option("--log-format", g.log_format, "text or json")->check(CLI::IsMember({"text", "json"}));
  app.add_flag("--systemd-cgroup", g.rt.systemd_cgroup, "cgroupsPath is slice:prefix:name (cgroupfs underneath)");
  app.add_flag("--debug", g.debug);
  app.add_flag("-v,--version", version);
  std::string ignored;
  bool ignored_flag = false;
  app.add_option("--criu,--log-level", ignored);
  app.add_flag("--rootless", ignored);
  app.require_subcommand(0, 1);
  app.fallthrough(false);

  std::string id;
  auto id_opt = [&](CLI::App* s) { s->add_option("id", id, "container id")->required(); };

  CreateOptions co;
  auto add_create_flags = [&](CLI::App* s) {
    s->add_option("-b,--bundle", co.bundle);
    s->add_option("--pid-file", co.pid_file);
    s->add_option("--console-socket", co.console_socket);
    s->add_option("--preserve-fds", co.preserve_fds);
    s->add_flag("--no-pivot", co.no_pivot);
    s->add_flag("--no-new-keyring", ignored_flag);
    s->add_option("--notify-socket", ignored);
    id_opt(s);
  };
  auto* create = app.add_subcommand("create", "create a container");
  add_create_flags(create);
  create->callback([&] { create_container(g.rt, id, co); });

  bool detach = false;
  auto* run = app.add_subcommand("run", "create and run a container");
  add_create_flags(run);
  run->add_flag("-d,--detach", detach);
  run->add_flag("--no-subreaper", ignored_flag);
  run->add_flag("--keep", ignored_flag);
  run->callback([&] { code = run_container(g.rt, id, co, detach); });

  auto* start = app.add_subcommand("start", "start a created container");
  id_opt(start);
  start->callback([&] { start_container(g.rt, id); });

  auto* state = app.add_subcommand("state", "print the state of a container");
  id_opt(state);
  state->callback([&] { fmt::print("{}\n", state_json(g.rt, load_record(g.rt, id)).dump(2)); });

  bool all = false;
  std::string signal = "SIGTERM";
  auto* kill = app.add_subcommand("kill", "send a signal to a container");
  kill->add_flag("-a,--all", all);
  id_opt(kill);
  kill->add_option("signal", signal);
  kill->callback([&] { kill_container(g.rt, id, parse_signal(signal), all); });

  bool force = false;
  auto* del = app.add_subcommand("delete", "delete a container");
  del->add_flag("-f,--force", force);
  id_opt(del);
  del->callback([&] { delete_container(g.rt, id, force); });

  auto* pause = app.add_subcommand("pause", "freeze a container");
  id_opt(pause);
  pause->callback([&] { pause_container(g.rt, id); });
  auto* resume = app.add_subcommand("resume", "thaw a container");
  id_opt(resume);
  resume->callback([&] { resume_container(g.rt, id); });

  std::string format = "table";
  auto* ps = app.add_subcommand("ps", "processes of a container");
  ps->add_option("-f,--format", format)->check(CLI::IsMember({"table", "json"}));
  id_opt(ps);
  ps->allow_extras();
  ps->callback([&] {
    auto pids = container_pids(g.rt, id);
    if (format == "json")
      fmt::print("{}\n", nlohmann::json(pids).dump());
    else
      print_ps_table(pids);
  });

  bool quiet = false;
  auto* list = app.add_subcommand("list", "list containers");
  list->alias("ls");
  list->add_option("-f,--format", format)->check(CLI::IsMember({"table", "json"}));
  list->add_flag("-q,--quiet", quiet);
  list->callback([&] {
    auto ids = list_ids(g.rt);
    if (quiet) {
      for (const auto& i : ids) fmt::print("{}\n", i);
      return;
    }
    nlohmann::json out = nlohmann::json::array();
    for (const auto& i : ids) {
      try {
        out.push_back(state_json(g.rt, load_record(g.rt, i)));
      } catch (const Error&) {
      }
    }
    if (format == "json") {
      fmt::print("{}\n", out.dump());
      return;
    }
    fmt::print("{:<20} {:<8} {:<10} {:<40} {}\n", "ID", "PID", "STATUS", "BUNDLE", "CREATED");
    for (const auto& s : out)
      fmt::print("{:<20} {:<8} {:<10} {:<40} {}\n", s["id"].get<std::string>(), s["pid"].get<int>(),
                 s["status"].get<std::string>(), s["bundle"].get<std::string>(), s["created"].get<std::string>());
  });

  std::string resources;
  int64_t memory = -1, pids_limit = 0;
  auto* update = app.add_subcommand("update", "change a container's cgroup limits");
  update->add_option("-r,--resources", resources, "JSON file of linux.resources, or - for stdin");
  update->add_option("--memory", memory);
  update->add_option("--pids-limit", pids_limit);
  id_opt(update);
  update->callback([&] {
    nlohmann::json r = resources.empty() ? nlohmann::json::object() : parse_json(read_input(resources), "--resources");
    if (memory >= 0) r["memory"]["limit"] = memory;
    if (pids_limit != 0) r["pids"]["limit"] = pids_limit;
    update_container(g.rt, id, r);
  });

  bool rootless = false;
  std::string spec_bundle = ".";
  auto* spec = app.add_subcommand("spec", "write a default config.json");
  spec->add_flag("--rootless", rootless);
  spec->add_option("-b,--bundle", spec_bundle);
  spec->callback([&] {
    std::string path = spec_bundle + "/config.json";
    if (::access(path.c_str(), F_OK) == 0) throw error("File {} exists. Remove it first", path);
    std::ofstream out(path);
    out << default_spec(rootless).dump(2) << "\n";
    if (!out) throw errno_error(fmt::format("write {}", path));
  });

  auto* features = app.add_subcommand("features", "print the runtime's features as JSON");
  features->callback([&] { fmt::print("{}\n", features_json().dump(2)); });

  ExecOptions eo;
  std::string process_file, cwd, user;
  std::vector<std::string> env, caps, additional_gids;
  bool tty = false, no_new_privs = false;
  auto* exec = app.add_subcommand("exec", "run a process in a running container");
  exec->add_option("-p,--process", process_file);
  exec->add_flag("-d,--detach", eo.detach);
  exec->add_option("--pid-file", eo.pid_file);
  exec->add_flag("-t,--tty", tty);
  exec->add_option("--console-socket", eo.console_socket);
  exec->add_option("-e,--env", env);
  exec->add_option("--cwd", cwd);
  exec->add_option("-u,--user", user);
  exec->add_option("-g,--additional-gids", additional_gids);
  exec->add_option("-c,--cap", caps);
  exec->add_flag("--no-new-privs", no_new_privs);
  exec->add_option("--preserve-fds", eo.preserve_fds);
  exec->add_option("--process-label,--apparmor", ignored);
  exec->prefix_command();
  exec->callback([&] {
    auto rest = exec->remaining();
    if (rest.empty()) throw error("exec: a container id is required");
    std::string cid = rest[0];
    rest.erase(rest.begin());
    ContainerRecord rec = load_record(g.rt, cid);
    if (!process_file.empty()) {
      eo.process = parse_process(parse_json(read_input(process_file), "--process"));
    } else {
      Config c = load_config(rec.bundle);
      eo.process = c.process;
      if (rest.empty()) throw error("exec: no command given (args or --process)");
      eo.process.args = rest;
      eo.process.terminal = tty;
    }
    for (const auto& e : env) eo.process.env.push_back(e);
    if (!cwd.empty()) eo.process.cwd = cwd;
    if (!user.empty()) {
      auto colon = user.find(':');
      eo.process.user.uid = std::stoul(user.substr(0, colon));
      eo.process.user.gid = colon == std::string::npos ? 0 : std::stoul(user.substr(colon + 1));
    }
    for (const auto& gid : additional_gids) eo.process.user.additional_gids.push_back(std::stoul(gid));
    if (!caps.empty()) {
      if (!eo.process.capabilities) eo.process.capabilities = Capabilities{};
      for (auto* set : {&eo.process.capabilities->bounding, &eo.process.capabilities->effective,
                        &eo.process.capabilities->permitted})
        set->insert(set->end(), caps.begin(), caps.end());
    }
    if (no_new_privs) eo.process.no_new_privileges = true;
    code = exec_container(g.rt, cid, eo);
  });

  try {
    app.parse(argc, argv);
    if (version) {
      fmt::print("insula-runc version {}\nspec: 1.1.0\n", INSULA_VERSION);
      return 0;
    }
    if (app.get_subcommands().empty()) {
      fmt::print("{}", app.help());
      return 0;
    }
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const std::exception& e) {
    log_error(g, e.what());
    return 1;
  }
  return code;
}

}  // namespace insula::cli
