// Image-based containers on top of the runtime verbs.
#include "container/managed.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <random>
#include <sstream>

#include "base/error.h"
#include "base/fd.h"
#include "container/secure_path.h"

namespace insula::container {
namespace {

using nlohmann::json;

std::string random_id() {
  std::random_device rd;
  std::string s;
  for (int i = 0; i < 12; ++i) s += "0123456789abcdef"[rd() % 16];
  return s;
}

// Keeps stdout/stderr pointed at a file while the runtime creates the
// container (its init inherits them), then restores ours.
class Redirect {
 public:
  explicit Redirect(const std::string& file) {
    UniqueFd log(::open(file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640));
    UniqueFd null(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    if (!log || !null) throw errno_error(fmt::format("open {}", file));
    for (int i = 0; i < 3; ++i) saved_[i] = ::fcntl(i, F_DUPFD_CLOEXEC, 10);
    ::dup2(null.get(), 0);
    ::dup2(log.get(), 1);
    ::dup2(log.get(), 2);
  }
  ~Redirect() {
    for (int i = 0; i < 3; ++i)
      if (saved_[i] >= 0) {
        ::dup2(saved_[i], i);
        ::close(saved_[i]);
      }
  }

 private:
  int saved_[3] = {-1, -1, -1};
};

// "uid[:gid]" numeric, or a name looked up in the rootfs' /etc/passwd.
void apply_image_user(json& process, const std::string& user, const std::string& rootfs) {
  if (user.empty()) return;
  std::string u = user.substr(0, user.find(':'));
  std::string g = user.find(':') == std::string::npos ? "" : user.substr(user.find(':') + 1);
  auto numeric = [](const std::string& s) { return !s.empty() && s.find_first_not_of("0123456789") == std::string::npos; };
  uint32_t uid = 0, gid = 0;
  if (numeric(u)) {
    uid = std::stoul(u);
  } else {
    std::ifstream pw(secure_join(rootfs, "/etc/passwd"));
    std::string line;
    bool found = false;
    while (std::getline(pw, line)) {
      std::vector<std::string> f;
      std::stringstream ss(line);
      std::string x;
      while (std::getline(ss, x, ':')) f.push_back(x);
      if (f.size() >= 4 && f[0] == u) {
        uid = std::stoul(f[2]);
        gid = std::stoul(f[3]);
        found = true;
      }
    }
    if (!found) throw error("image user '{}' is not in the image's /etc/passwd", u);
  }
  if (numeric(g)) gid = std::stoul(g);
  process["user"] = {{"uid", uid}, {"gid", gid}};
}

}  // namespace

std::string default_state_dir() {
  const char* env = ::getenv("INSULA_STATE_DIR");
  return env && *env ? env : "/var/lib/insula";
}

Containers::Containers(std::string state_dir) : state_(std::move(state_dir)), store_(state_ + "/images") {
  rt_.root = state_ + "/runc";
  mkdir_all(state_ + "/containers", 0700);
}

std::string Containers::resolve(const std::string& id_or_name) const {
  if (::access((dir(id_or_name) + "/meta.json").c_str(), F_OK) == 0) return id_or_name;
  throw error("container {} does not exist", id_or_name);
}

std::string Containers::prepare(const ManagedCreate& o) {
  Image img = store_.get(o.image);
  std::string id = o.name.empty() ? random_id() : o.name;
  check_container_id(id);
  std::string d = dir(id);
  if (::mkdir(d.c_str(), 0700) != 0) {
    if (errno == EEXIST) throw error("container name {} is already in use", id);
    throw errno_error(fmt::format("mkdir {}", d));
  }
  try {
    for (const char* sub : {"/upper", "/work", "/rootfs"}) mkdir_all(d + sub, 0755);
    std::string lower;
    for (const auto& l : store_.lower_dirs(img)) lower += (lower.empty() ? "" : ":") + l;
    std::string opts = fmt::format("lowerdir={},upperdir={}/upper,workdir={}/work", lower, d, d);
    if (::mount("overlay", (d + "/rootfs").c_str(), "overlay", 0, opts.c_str()) != 0)
      throw errno_error(fmt::format("mount overlay for container {}", id));

    json spec = default_spec(false);
    const json& ic = img.config.contains("config") ? img.config["config"] : json::object();
    std::vector<std::string> args;
    if (ic.contains("Entrypoint") && ic["Entrypoint"].is_array()) args = ic["Entrypoint"].get<std::vector<std::string>>();
    if (!o.args.empty())
      args.insert(args.end(), o.args.begin(), o.args.end());
    else if (ic.contains("Cmd") && ic["Cmd"].is_array()) {
      auto cmd = ic["Cmd"].get<std::vector<std::string>>();
      args.insert(args.end(), cmd.begin(), cmd.end());
    }
    if (args.empty()) throw error("no command given and image {} has no Entrypoint or Cmd", o.image);
    std::vector<std::string> env;
    if (ic.contains("Env") && ic["Env"].is_array()) env = ic["Env"].get<std::vector<std::string>>();
    bool has_path = false;
    for (const auto& e : env) has_path = has_path || e.rfind("PATH=", 0) == 0;
    if (!has_path) env.push_back("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    env.insert(env.end(), o.env.begin(), o.env.end());
    json& p = spec["process"];
    p["terminal"] = o.terminal;
    p["args"] = args;
    p["env"] = env;
    p["cwd"] = ic.value("WorkingDir", std::string()).empty() ? "/" : ic["WorkingDir"].get<std::string>();
    apply_image_user(p, ic.value("User", std::string()), d + "/rootfs");
    spec["root"] = {{"path", d + "/rootfs"}, {"readonly", false}};
    spec["hostname"] = id.substr(0, 12);
    spec["linux"]["cgroupsPath"] = "/insula/" + id;
    std::ofstream(d + "/config.json") << spec.dump(1);
    json meta = {{"id", id}, {"image", img.name}, {"image_id", img.id}, {"created", now_rfc3339()}, {"args", args}};
    std::ofstream(d + "/meta.json") << meta.dump(1);
  } catch (...) {
    ::umount2((d + "/rootfs").c_str(), MNT_DETACH);
    remove_tree(d);
    throw;
  }
  return id;
}

std::string Containers::create(const ManagedCreate& o) {
  // The runtime proxies a terminal only while it runs in the foreground.
  if (o.terminal) throw error("a terminal (-t) needs `insula container run` in the foreground (without -d)");
  std::string id = prepare(o);
  try {
    CreateOptions co;
    co.bundle = dir(id);
    if (o.log_to_file) {
      Redirect r(dir(id) + "/log");
      create_container(rt_, id, co);
    } else {
      create_container(rt_, id, co);
    }
  } catch (...) {
    remove(id, true);
    throw;
  }
  return id;
}

void Containers::start(const std::string& id) { start_container(rt_, resolve(id)); }

int Containers::run(const ManagedCreate& o, bool detach, bool remove_after, std::string* id_out) {
  if (detach) {
    std::string id = create(o);
    if (id_out) *id_out = id;
    start(id);
    return 0;
  }
  std::string id = prepare(o);
  if (id_out) *id_out = id;
  CreateOptions co;
  co.bundle = dir(id);
  int code;
  try {
    code = run_container(rt_, id, co, false);
  } catch (...) {
    remove(id, true);
    throw;
  }
  if (remove_after) remove(id, true);
  return code;
}

int Containers::exec(const std::string& id, const std::vector<std::string>& args) {
  std::string cid = resolve(id);
  ExecOptions eo;
  eo.process = load_config(dir(cid)).process;
  eo.process.args = args;
  return exec_container(rt_, cid, eo);
}

std::vector<ManagedInfo> Containers::list() {
  std::vector<ManagedInfo> out;
  DIR* d = ::opendir((state_ + "/containers").c_str());
  if (!d) return out;
  while (dirent* e = ::readdir(d)) {
    std::string id = e->d_name;
    if (id == "." || id == ".." || ::access((dir(id) + "/meta.json").c_str(), F_OK) != 0) continue;
    json meta = json::parse(std::ifstream(dir(id) + "/meta.json"));
    ManagedInfo info{id, meta.value("image", ""), "exited", meta.value("created", ""), meta.value("args", std::vector<std::string>{})};
    if (record_exists(rt_, id)) info.status = status_name(container_status(rt_, load_record(rt_, id)));
    if (info.status == "stopped") info.status = "exited";
    out.push_back(info);
  }
  ::closedir(d);
  return out;
}

void Containers::stop(const std::string& id, int timeout_s) {
  std::string cid = resolve(id);
  if (!record_exists(rt_, cid)) return;
  ContainerRecord rec = load_record(rt_, cid);
  Status s = container_status(rt_, rec);
  if (s == Status::kStopped) return;
  if (s == Status::kPaused) resume_container(rt_, cid);
  ::kill(rec.pid, SIGTERM);
  if (!wait_gone(rec.pid, rec.pid_start, timeout_s * 1000)) {
    Cgroups(rec.cgroup_dirs).kill_all(SIGKILL);
    ::kill(rec.pid, SIGKILL);
    wait_gone(rec.pid, rec.pid_start, 5000);
  }
}

void Containers::remove(const std::string& id, bool force) {
  if (record_exists(rt_, id)) {
    ContainerRecord rec = load_record(rt_, id);
    Status s = container_status(rt_, rec);
    if ((s == Status::kRunning || s == Status::kPaused) && !force)
      throw error("container {} is {}; stop it first or use --force", id, status_name(s));
    delete_container(rt_, id, true);
  }
  std::string root = dir(id) + "/rootfs";
  if (::umount2(root.c_str(), MNT_DETACH) != 0 && errno != EINVAL && errno != ENOENT)
    throw errno_error(fmt::format("unmount {}", root));
  remove_tree(dir(id));
}

std::string Containers::logs(const std::string& id) {
  std::ifstream in(dir(resolve(id)) + "/log");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace insula::container
