// seccomp filters from linux.seccomp via libseccomp: every action of the spec.
// SCMP_ACT_NOTIFY rules make the load return the notify fd, which create
// hands to the listener at linux.seccomp.listenerPath.
#include <fcntl.h>
#include <seccomp.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cstring>

#include <map>

#include "base/error.h"
#include "container/console.h"
#include "container/security.h"

namespace insula::container {
namespace {

uint32_t action(const std::string& name, std::optional<unsigned> errno_ret) {
  if (name == "SCMP_ACT_KILL" || name == "SCMP_ACT_KILL_THREAD") return SCMP_ACT_KILL_THREAD;
  if (name == "SCMP_ACT_KILL_PROCESS") return SCMP_ACT_KILL_PROCESS;
  if (name == "SCMP_ACT_TRAP") return SCMP_ACT_TRAP;
  if (name == "SCMP_ACT_ERRNO") return SCMP_ACT_ERRNO(errno_ret.value_or(EPERM));
  if (name == "SCMP_ACT_TRACE") return SCMP_ACT_TRACE(errno_ret.value_or(EPERM));
  if (name == "SCMP_ACT_ALLOW") return SCMP_ACT_ALLOW;
  if (name == "SCMP_ACT_LOG") return SCMP_ACT_LOG;
  if (name == "SCMP_ACT_NOTIFY") return SCMP_ACT_NOTIFY;
  throw error("config.json: unknown seccomp action '{}'", name);
}

scmp_compare op(const std::string& name) {
  static const std::map<std::string, scmp_compare> ops = {
      {"SCMP_CMP_NE", SCMP_CMP_NE}, {"SCMP_CMP_LT", SCMP_CMP_LT}, {"SCMP_CMP_LE", SCMP_CMP_LE},
      {"SCMP_CMP_EQ", SCMP_CMP_EQ}, {"SCMP_CMP_GE", SCMP_CMP_GE}, {"SCMP_CMP_GT", SCMP_CMP_GT},
      {"SCMP_CMP_MASKED_EQ", SCMP_CMP_MASKED_EQ}};
  auto it = ops.find(name);
  if (it == ops.end()) throw error("config.json: unknown seccomp operator '{}'", name);
  return it->second;
}

uint32_t arch(const std::string& name) {
  std::string n = name.rfind("SCMP_ARCH_", 0) == 0 ? name.substr(10) : name;
  for (auto& c : n) c = tolower(c);
  uint32_t a = seccomp_arch_resolve_name(n.c_str());
  if (a == 0) throw error("config.json: unknown seccomp architecture '{}'", name);
  return a;
}

struct Ctx {
  scmp_filter_ctx c;
  ~Ctx() { seccomp_release(c); }
};

}  // namespace

std::vector<std::string> seccomp_actions() {
  return {"SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD",
          "SCMP_ACT_LOG", "SCMP_ACT_NOTIFY", "SCMP_ACT_TRACE", "SCMP_ACT_TRAP"};
}

bool seccomp_uses_notify(const Seccomp& s) {
  for (const auto& r : s.syscalls)
    if (r.action == "SCMP_ACT_NOTIFY") return true;
  return false;
}

UniqueFd build_seccomp(const Seccomp& s, bool load) {
  // As runc: a notifying default would stop the init itself with nobody to answer yet.
  if (s.default_action == "SCMP_ACT_NOTIFY")
    throw error("config.json: SCMP_ACT_NOTIFY cannot be linux.seccomp.defaultAction (use it in syscalls rules)");
  bool notify = seccomp_uses_notify(s);
  if (notify && s.listener_path.empty())
    throw error("config.json: seccomp rules use SCMP_ACT_NOTIFY but linux.seccomp.listenerPath is not set");
  if (notify && s.listener_path[0] != '/')
    throw error("config.json: linux.seccomp.listenerPath must be an absolute path, not '{}'", s.listener_path);
  uint32_t def = action(s.default_action, s.default_errno_ret);
  Ctx ctx{seccomp_init(def)};
  if (!ctx.c) throw error("seccomp_init failed for default action {}", s.default_action);
  for (const auto& a : s.architectures) {
    int rc = seccomp_arch_add(ctx.c, arch(a));
    if (rc != 0 && rc != -EEXIST) throw system_error(-rc, fmt::format("seccomp: add architecture {}", a));
  }
  for (const auto& f : s.flags) {
    if (f == "SECCOMP_FILTER_FLAG_TSYNC") seccomp_attr_set(ctx.c, SCMP_FLTATR_CTL_TSYNC, 1);
    else if (f == "SECCOMP_FILTER_FLAG_LOG") seccomp_attr_set(ctx.c, SCMP_FLTATR_CTL_LOG, 1);
    else if (f == "SECCOMP_FILTER_FLAG_SPEC_ALLOW") seccomp_attr_set(ctx.c, SCMP_FLTATR_CTL_SSB, 1);
    else throw error("config.json: unknown seccomp flag '{}'", f);
  }
  // Do not let the filter's own errors (bad arch in a rule) turn into silent allows.
  seccomp_attr_set(ctx.c, SCMP_FLTATR_CTL_NNP, 0);
  for (const auto& rule : s.syscalls) {
    uint32_t act = action(rule.action, rule.errno_ret);
    if (act == def) continue;  // libseccomp refuses rules equal to the default
    std::vector<scmp_arg_cmp> cmps;
    std::map<unsigned, int> per_index;
    for (const auto& a : rule.args) {
      if (a.index > 5) throw error("config.json: seccomp argument index {} is out of range (0-5)", a.index);
      scmp_compare o = op(a.op);
      // For MASKED_EQ, value is the mask and valueTwo the expected value (runtime-spec and libseccomp agree).
      cmps.push_back(scmp_arg_cmp{a.index, o, a.value, a.value_two});
      ++per_index[a.index];
    }
    bool same_index = false;
    for (auto& [i, n] : per_index) same_index = same_index || n > 1;
    for (const auto& name : rule.names) {
      int nr = seccomp_syscall_resolve_name(name.c_str());
      if (nr == __NR_SCMP_ERROR) continue;  // unknown on this kernel/arch: skipped like runc
      int rc;
      if (same_index) {
        // libseccomp cannot AND two conditions on one argument: one rule each (OR), as runc does.
        for (const auto& c : cmps) {
          rc = seccomp_rule_add_array(ctx.c, act, nr, 1, &c);
          if (rc != 0) throw system_error(-rc, fmt::format("seccomp: add rule for {}", name));
        }
        continue;
      }
      rc = seccomp_rule_add_array(ctx.c, act, nr, static_cast<unsigned>(cmps.size()), cmps.data());
      if (rc != 0) throw system_error(-rc, fmt::format("seccomp: add rule for {}", name));
    }
  }
  if (!load) return UniqueFd();
  int rc = seccomp_load(ctx.c);
  if (rc != 0) throw system_error(-rc, "seccomp: load filter");
  if (!notify) return UniqueFd();
  int fd = seccomp_notify_fd(ctx.c);
  if (fd < 0) throw system_error(-fd, "seccomp: get the notify fd of the loaded filter");
  // libseccomp keeps the fd in its process-wide state and never closes it
  // (seccomp_release does not): ours from here on, and not for the process.
  ::fcntl(fd, F_SETFD, FD_CLOEXEC);
  return UniqueFd(fd);
}

void send_to_seccomp_listener(const Seccomp& s, int notify_fd, int pid, const nlohmann::json& state) {
  // The container process state of runtime-spec config-linux.md: one message,
  // the fd in SCM_RIGHTS at the index of its name in "fds", then close.
  nlohmann::json msg = {{"ociVersion", "1.0.2"}, {"fds", {"seccompFd"}}, {"pid", pid}, {"state", state}};
  if (!s.listener_metadata.empty()) msg["metadata"] = s.listener_metadata;
  UniqueFd sock(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!sock) throw errno_error("seccomp listener: socket");
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (s.listener_path.size() >= sizeof addr.sun_path)
    throw error("linux.seccomp.listenerPath {} is too long for a unix socket", s.listener_path);
  std::memcpy(addr.sun_path, s.listener_path.data(), s.listener_path.size());
  if (::connect(sock.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
    throw errno_error(fmt::format("connect to the seccomp listener at {} (linux.seccomp.listenerPath; is it listening?)",
                                  s.listener_path));
  send_fd(sock.get(), notify_fd, msg.dump());
}

UniqueFd load_seccomp(const Seccomp& s) { return build_seccomp(s, true); }
void check_seccomp(const Seccomp& s) { build_seccomp(s, false); }

}  // namespace insula::container
