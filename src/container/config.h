// The OCI runtime-spec config.json, parsed and validated into plain structs.
// Only what the runtime acts on is kept; parsing rejects wrong types, unknown
// namespaces and relative paths with a message naming the offending field.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace insula::container {

struct Hook {
  std::string path;
  std::vector<std::string> args;
  std::vector<std::string> env;
  std::optional<int> timeout;  // seconds
};

struct Hooks {
  std::vector<Hook> prestart, create_runtime, create_container, start_container, poststart, poststop;
};

struct IdMapping {
  uint32_t container_id, host_id, size;
};

struct Mount {
  std::string destination, type, source;
  std::vector<std::string> options;
  std::vector<IdMapping> uid_mappings, gid_mappings;  // idmapped mount (runtime-spec 1.1)
};

struct Namespace {
  std::string type;  // pid network mount ipc uts user cgroup time
  std::string path;  // join instead of create when set
};

struct Device {
  std::string path, type;  // c b u p
  int64_t major = 0, minor = 0;
  uint32_t file_mode = 0666;
  bool has_mode = false;
  uint32_t uid = 0, gid = 0;
};

struct Rlimit {
  std::string type;
  uint64_t hard, soft;
};

struct Capabilities {
  std::vector<std::string> bounding, effective, inheritable, permitted, ambient;
};

struct User {
  uint32_t uid = 0, gid = 0;
  std::optional<uint32_t> umask;
  std::vector<uint32_t> additional_gids;
};

struct Process {
  bool terminal = false;
  std::optional<std::pair<unsigned, unsigned>> console_size;  // height, width
  User user;
  std::vector<std::string> args, env;
  std::string cwd = "/";
  std::optional<Capabilities> capabilities;
  std::vector<Rlimit> rlimits;
  bool no_new_privileges = false;
  std::optional<int> oom_score_adj;
  std::string apparmor_profile, selinux_label;
};

struct SeccompArg {
  unsigned index;
  uint64_t value, value_two;
  std::string op;
};

struct SeccompRule {
  std::vector<std::string> names;
  std::string action;
  std::optional<unsigned> errno_ret;
  std::vector<SeccompArg> args;
};

struct Seccomp {
  std::string default_action;
  std::optional<unsigned> default_errno_ret;
  std::vector<std::string> architectures, flags;
  std::vector<SeccompRule> syscalls;
  // SCMP_ACT_NOTIFY: the runtime sends the notify fd to this AF_UNIX socket.
  std::string listener_path, listener_metadata;
};

struct Config {
  std::string oci_version;
  std::string root_path;  // absolute (resolved against the bundle)
  bool root_readonly = false;
  Process process;
  bool has_process = false;
  std::string hostname, domainname;
  std::vector<Mount> mounts;
  Hooks hooks;
  std::map<std::string, std::string> annotations;
  // linux
  std::vector<Namespace> namespaces;
  std::vector<IdMapping> uid_mappings, gid_mappings;
  std::map<std::string, std::string> sysctl;
  nlohmann::json resources;  // kept as JSON: cgroups code reads what it supports
  std::string cgroups_path;
  std::vector<Device> devices;
  std::string rootfs_propagation;
  std::vector<std::string> masked_paths, readonly_paths;
  std::optional<Seccomp> seccomp;
  std::map<std::string, int64_t> time_offsets;  // "monotonic"/"boottime" -> secs (ns dropped)
  std::string mount_label;

  bool has_namespace(const std::string& type) const;
  const Namespace* find_namespace(const std::string& type) const;
};

// Parses config.json text; `bundle` resolves a relative root.path. Throws Error.
Config parse_config(const std::string& text, const std::string& bundle);
Config load_config(const std::string& bundle);

// Parses a standalone process.json (runc exec --process).
Process parse_process(const nlohmann::json& j);

// The default config.json written by `spec` (runc's defaults).
nlohmann::json default_spec(bool rootless);

}  // namespace insula::container
