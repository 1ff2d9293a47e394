// Parsing and validation of config.json (runtime-spec 1.x).
#include "container/config.h"

#include <fstream>
#include <set>
#include <sstream>

#include "base/error.h"

namespace insula::container {
namespace {

using nlohmann::json;

// Reads field `key` of object `o` as T, naming the field in any type error.
template <typename T>
T get(const json& o, const char* key, const std::string& where, T fallback = T{}) {
  auto it = o.find(key);
  if (it == o.end() || it->is_null()) return fallback;
  try {
    return it->get<T>();
  } catch (const json::exception&) {
    throw error("config.json: {}.{} has the wrong type ({}); see the OCI runtime spec", where, key,
                it->type_name());
  }
}

const json& object(const json& o, const char* key, const std::string& where) {
  static const json empty = json::object();
  auto it = o.find(key);
  if (it == o.end() || it->is_null()) return empty;
  if (!it->is_object()) throw error("config.json: {}.{} must be an object, not {}", where, key, it->type_name());
  return *it;
}

const json& array(const json& o, const char* key, const std::string& where) {
  static const json empty = json::array();
  auto it = o.find(key);
  if (it == o.end() || it->is_null()) return empty;
  if (!it->is_array()) throw error("config.json: {}.{} must be an array, not {}", where, key, it->type_name());
  return *it;
}

std::vector<std::string> strings(const json& o, const char* key, const std::string& where) {
  return get<std::vector<std::string>>(o, key, where);
}

std::vector<Hook> parse_hooks(const json& hooks, const char* key) {
  std::vector<Hook> out;
  std::string where = std::string("hooks.") + key;
  for (const auto& h : array(hooks, key, "hooks")) {
    if (!h.is_object()) throw error("config.json: {} entries must be objects", where);
    Hook hook;
    hook.path = get<std::string>(h, "path", where);
    if (hook.path.empty() || hook.path[0] != '/')
      throw error("config.json: {}.path '{}' must be an absolute path", where, hook.path);
    hook.args = strings(h, "args", where);
    hook.env = strings(h, "env", where);
    if (h.contains("timeout") && !h["timeout"].is_null()) {
      hook.timeout = get<int>(h, "timeout", where);
      if (*hook.timeout <= 0) throw error("config.json: {}.timeout must be greater than zero", where);
    }
    out.push_back(std::move(hook));
  }
  return out;
}

std::vector<IdMapping> parse_mappings(const json& linux_, const char* key, const std::string& parent = "linux") {
  std::vector<IdMapping> out;
  for (const auto& m : array(linux_, key, parent)) {
    std::string where = parent + "." + key;
    out.push_back({get<uint32_t>(m, "containerID", where), get<uint32_t>(m, "hostID", where),
                   get<uint32_t>(m, "size", where)});
  }
  return out;
}

Seccomp parse_seccomp(const json& s) {
  Seccomp out;
  const std::string where = "linux.seccomp";
  out.default_action = get<std::string>(s, "defaultAction", where);
  if (out.default_action.empty()) throw error("config.json: linux.seccomp.defaultAction is required");
  if (s.contains("defaultErrnoRet") && !s["defaultErrnoRet"].is_null())
    out.default_errno_ret = get<unsigned>(s, "defaultErrnoRet", where);
  out.architectures = strings(s, "architectures", where);
  out.flags = strings(s, "flags", where);
  if (s.contains("listenerPath") && !s["listenerPath"].is_null()) out.listener_path = get<std::string>(s, "listenerPath", where);
  if (s.contains("listenerMetadata") && !s["listenerMetadata"].is_null())
    out.listener_metadata = get<std::string>(s, "listenerMetadata", where);
  for (const auto& r : array(s, "syscalls", where)) {
    SeccompRule rule;
    rule.names = strings(r, "names", where + ".syscalls");
    rule.action = get<std::string>(r, "action", where + ".syscalls");
    if (r.contains("errnoRet") && !r["errnoRet"].is_null()) rule.errno_ret = get<unsigned>(r, "errnoRet", where);
    for (const auto& a : array(r, "args", where + ".syscalls")) {
      rule.args.push_back({get<unsigned>(a, "index", where + ".args"), get<uint64_t>(a, "value", where + ".args"),
                           get<uint64_t>(a, "valueTwo", where + ".args"), get<std::string>(a, "op", where + ".args")});
    }
    out.syscalls.push_back(std::move(rule));
  }
  return out;
}

}  // namespace

bool Config::has_namespace(const std::string& type) const { return find_namespace(type) != nullptr; }

const Namespace* Config::find_namespace(const std::string& type) const {
  for (const auto& ns : namespaces)
    if (ns.type == type) return &ns;
  return nullptr;
}

Process parse_process(const json& p) {
  Process out;
  const std::string where = "process";
  if (!p.is_object()) throw error("config.json: process must be an object");
  out.terminal = get<bool>(p, "terminal", where);
  const json& cs = object(p, "consoleSize", where);
  if (!cs.empty()) out.console_size = {get<unsigned>(cs, "height", "consoleSize"), get<unsigned>(cs, "width", "consoleSize")};
  const json& u = object(p, "user", where);
  out.user.uid = get<uint32_t>(u, "uid", "process.user");
  out.user.gid = get<uint32_t>(u, "gid", "process.user");
  if (u.contains("umask") && !u["umask"].is_null()) out.user.umask = get<uint32_t>(u, "umask", "process.user");
  out.user.additional_gids = get<std::vector<uint32_t>>(u, "additionalGids", "process.user");
  out.args = strings(p, "args", where);
  out.env = strings(p, "env", where);
  out.cwd = get<std::string>(p, "cwd", where, "/");
  if (out.cwd.empty() || out.cwd[0] != '/') throw error("config.json: process.cwd '{}' must be an absolute path", out.cwd);
  if (p.contains("capabilities") && !p["capabilities"].is_null()) {
    const json& c = object(p, "capabilities", where);
    Capabilities caps;
    caps.bounding = strings(c, "bounding", "process.capabilities");
    caps.effective = strings(c, "effective", "process.capabilities");
    caps.inheritable = strings(c, "inheritable", "process.capabilities");
    caps.permitted = strings(c, "permitted", "process.capabilities");
    caps.ambient = strings(c, "ambient", "process.capabilities");
    out.capabilities = std::move(caps);
  }
  for (const auto& r : array(p, "rlimits", where))
    out.rlimits.push_back({get<std::string>(r, "type", "process.rlimits"), get<uint64_t>(r, "hard", "process.rlimits"),
                           get<uint64_t>(r, "soft", "process.rlimits")});
  out.no_new_privileges = get<bool>(p, "noNewPrivileges", where);
  if (p.contains("oomScoreAdj") && !p["oomScoreAdj"].is_null()) out.oom_score_adj = get<int>(p, "oomScoreAdj", where);
  out.apparmor_profile = get<std::string>(p, "apparmorProfile", where);
  out.selinux_label = get<std::string>(p, "selinuxLabel", where);
  return out;
}

Config parse_config(const std::string& text, const std::string& bundle) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {  // parse_error, and out_of_range for numbers too big (found by fuzzing)
    throw error("config.json: not valid JSON: {}", e.what());
  }
  if (!j.is_object()) throw error("config.json: the top level must be an object");
  Config c;
  c.oci_version = get<std::string>(j, "ociVersion", "");
  if (c.oci_version.empty()) throw error("config.json: ociVersion is required");
  const json& root = object(j, "root", "");
  std::string path = get<std::string>(root, "path", "root");
  if (path.empty()) throw error("config.json: root.path is required");
  c.root_path = path[0] == '/' ? path : bundle + "/" + path;
  c.root_readonly = get<bool>(root, "readonly", "root");
  if (j.contains("process") && !j["process"].is_null()) {
    c.process = parse_process(j["process"]);
    c.has_process = true;
  }
  c.hostname = get<std::string>(j, "hostname", "");
  c.domainname = get<std::string>(j, "domainname", "");
  for (const auto& m : array(j, "mounts", "")) {
    if (!m.is_object()) throw error("config.json: mounts entries must be objects");
    Mount mount;
    mount.destination = get<std::string>(m, "destination", "mounts");
    if (mount.destination.empty() || mount.destination[0] != '/')
      throw error("config.json: mount destination '{}' must be an absolute path", mount.destination);
    mount.type = get<std::string>(m, "type", "mounts");
    mount.source = get<std::string>(m, "source", "mounts");
    mount.options = strings(m, "options", "mounts");
    mount.uid_mappings = parse_mappings(m, "uidMappings", "mounts");
    mount.gid_mappings = parse_mappings(m, "gidMappings", "mounts");
    c.mounts.push_back(std::move(mount));
  }
  const json& hooks = object(j, "hooks", "");
  c.hooks.prestart = parse_hooks(hooks, "prestart");
  c.hooks.create_runtime = parse_hooks(hooks, "createRuntime");
  c.hooks.create_container = parse_hooks(hooks, "createContainer");
  c.hooks.start_container = parse_hooks(hooks, "startContainer");
  c.hooks.poststart = parse_hooks(hooks, "poststart");
  c.hooks.poststop = parse_hooks(hooks, "poststop");
  c.annotations = get<std::map<std::string, std::string>>(j, "annotations", "");

  const json& lx = object(j, "linux", "");
  static const std::set<std::string> kNamespaces = {"pid", "network", "mount", "ipc", "uts", "user", "cgroup", "time"};
  for (const auto& n : array(lx, "namespaces", "linux")) {
    Namespace ns{get<std::string>(n, "type", "linux.namespaces"), get<std::string>(n, "path", "linux.namespaces")};
    if (!kNamespaces.count(ns.type)) throw error("config.json: unknown namespace type '{}' in linux.namespaces", ns.type);
    if (!ns.path.empty() && ns.path[0] != '/')
      throw error("config.json: namespace path '{}' must be an absolute path", ns.path);
    if (c.has_namespace(ns.type)) throw error("config.json: namespace '{}' is listed twice", ns.type);
    c.namespaces.push_back(ns);
  }
  c.uid_mappings = parse_mappings(lx, "uidMappings");
  c.gid_mappings = parse_mappings(lx, "gidMappings");
  if ((!c.uid_mappings.empty() || !c.gid_mappings.empty()) && !c.has_namespace("user"))
    throw error("config.json: uidMappings/gidMappings need a user namespace in linux.namespaces");
  c.sysctl = get<std::map<std::string, std::string>>(lx, "sysctl", "linux");
  c.resources = object(lx, "resources", "linux");
  c.cgroups_path = get<std::string>(lx, "cgroupsPath", "linux");
  for (const auto& d : array(lx, "devices", "linux")) {
    Device dev;
    dev.path = get<std::string>(d, "path", "linux.devices");
    if (dev.path.empty() || dev.path[0] != '/') throw error("config.json: device path '{}' must be absolute", dev.path);
    dev.type = get<std::string>(d, "type", "linux.devices");
    if (dev.type != "c" && dev.type != "b" && dev.type != "u" && dev.type != "p")
      throw error("config.json: device {} has unknown type '{}'", dev.path, dev.type);
    dev.major = get<int64_t>(d, "major", "linux.devices");
    dev.minor = get<int64_t>(d, "minor", "linux.devices");
    if (d.contains("fileMode") && !d["fileMode"].is_null()) {
      dev.file_mode = get<uint32_t>(d, "fileMode", "linux.devices");
      dev.has_mode = true;
    }
    dev.uid = get<uint32_t>(d, "uid", "linux.devices");
    dev.gid = get<uint32_t>(d, "gid", "linux.devices");
    c.devices.push_back(dev);
  }
  c.rootfs_propagation = get<std::string>(lx, "rootfsPropagation", "linux");
  c.masked_paths = strings(lx, "maskedPaths", "linux");
  c.readonly_paths = strings(lx, "readonlyPaths", "linux");
  for (const auto* list : {&c.masked_paths, &c.readonly_paths})
    for (const auto& p : *list)
      if (p.empty() || p[0] != '/') throw error("config.json: masked/readonly path '{}' must be absolute", p);
  if (lx.contains("seccomp") && !lx["seccomp"].is_null()) c.seccomp = parse_seccomp(object(lx, "seccomp", "linux"));
  for (const auto& [k, v] : object(lx, "timeOffsets", "linux").items())
    c.time_offsets[k] = get<int64_t>(v, "secs", "linux.timeOffsets");
  c.mount_label = get<std::string>(lx, "mountLabel", "linux");
  return c;
}

Config load_config(const std::string& bundle) {
  std::string file = bundle + "/config.json";
  std::ifstream in(file);
  if (!in) throw errno_error(fmt::format("open {}", file));
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_config(ss.str(), bundle);
}

}  // namespace insula::container
