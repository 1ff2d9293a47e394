// The last steps of a container process before execve: rlimits, uid/gid and
// groups, PATH lookup, and the exec itself.
#include <grp.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <map>
#include <sstream>

#include "base/error.h"
#include "container/security.h"

namespace insula::container {

namespace {

const std::map<std::string, int>& rlimit_names() {
  static const std::map<std::string, int> kNames = {
      {"RLIMIT_AS", RLIMIT_AS},           {"RLIMIT_CORE", RLIMIT_CORE},       {"RLIMIT_CPU", RLIMIT_CPU},
      {"RLIMIT_DATA", RLIMIT_DATA},       {"RLIMIT_FSIZE", RLIMIT_FSIZE},     {"RLIMIT_LOCKS", RLIMIT_LOCKS},
      {"RLIMIT_MEMLOCK", RLIMIT_MEMLOCK}, {"RLIMIT_MSGQUEUE", RLIMIT_MSGQUEUE}, {"RLIMIT_NICE", RLIMIT_NICE},
      {"RLIMIT_NOFILE", RLIMIT_NOFILE},   {"RLIMIT_NPROC", RLIMIT_NPROC},     {"RLIMIT_RSS", RLIMIT_RSS},
      {"RLIMIT_RTPRIO", RLIMIT_RTPRIO},   {"RLIMIT_RTTIME", RLIMIT_RTTIME},   {"RLIMIT_SIGPENDING", RLIMIT_SIGPENDING},
      {"RLIMIT_STACK", RLIMIT_STACK}};
  return kNames;
}

}  // namespace

void check_rlimit_name(const std::string& name) {
  if (!rlimit_names().count(name)) throw error("config.json: unknown rlimit type '{}'", name);
}

void apply_rlimits(const std::vector<Rlimit>& rlimits) {
  const auto& kNames = rlimit_names();
  for (const auto& r : rlimits) {
    auto it = kNames.find(r.type);
    if (it == kNames.end()) throw error("config.json: unknown rlimit type '{}'", r.type);
    rlimit rl{r.soft, r.hard};
    if (::setrlimit(it->second, &rl) == 0) continue;
    // Without CAP_SYS_RESOURCE (some sandboxed hosts) the hard limit cannot be
    // raised: clamp to the current one rather than refuse the container.
    rlimit cur{};
    if (errno == EPERM && ::getrlimit(it->second, &cur) == 0 && r.hard > cur.rlim_max) {
      rl = {std::min<rlim_t>(r.soft, cur.rlim_max), cur.rlim_max};
      if (::setrlimit(it->second, &rl) == 0) continue;
    }
    throw errno_error(fmt::format("setrlimit {}", r.type));
  }
}

void set_user(const User& u, bool keep_caps) {
  std::vector<gid_t> groups(u.additional_gids.begin(), u.additional_gids.end());
  // setgroups is denied in a user namespace with setgroups=deny; only fail if groups were asked for.
  if (::setgroups(groups.size(), groups.data()) != 0 && !groups.empty()) throw errno_error("setgroups");
  if (::setresgid(u.gid, u.gid, u.gid) != 0) throw errno_error(fmt::format("setgid {}", u.gid));
  if (keep_caps) ::prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0);
  if (::setresuid(u.uid, u.uid, u.uid) != 0) throw errno_error(fmt::format("setuid {}", u.uid));
  if (keep_caps) ::prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0);
  ::umask(u.umask.value_or(022));
}

std::string find_executable(const std::string& name, const std::vector<std::string>& env) {
  if (name.empty()) throw error("process.args must not be empty");
  if (name.find('/') != std::string::npos) {
    struct stat st {};
    if (::stat(name.c_str(), &st) != 0)
      throw error("exec: \"{}\": stat {}: no such file or directory", name, name);
    if (!S_ISREG(st.st_mode)) throw error("exec: \"{}\": permission denied", name);
    return name;
  }
  std::string path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  for (const auto& e : env)
    if (e.rfind("PATH=", 0) == 0) path = e.substr(5);
  std::istringstream ss(path);
  std::string dir;
  while (std::getline(ss, dir, ':')) {
    std::string candidate = (dir.empty() ? "." : dir) + "/" + name;
    struct stat st {};
    if (::stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 0111)) return candidate;
  }
  throw error("exec: \"{}\": executable file not found in $PATH", name);
}

void exec_process(const Process& p, const std::string& path) {
  std::vector<char*> argv, envp;
  for (const auto& a : p.args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  bool has_home = false;
  for (const auto& e : p.env) {
    envp.push_back(const_cast<char*>(e.c_str()));
    has_home = has_home || e.rfind("HOME=", 0) == 0;
  }
  std::string home = "HOME=/";
  if (!has_home) envp.push_back(home.data());
  envp.push_back(nullptr);
  ::execve(path.c_str(), argv.data(), envp.data());
  throw errno_error(fmt::format("exec {}", path));
}

}  // namespace insula::container
