// Process security settings applied just before exec: capabilities (libcap),
// seccomp filters (libseccomp), no_new_privs, rlimits, user and groups.
#pragma once

#include <string>
#include <vector>

#include "base/fd.h"
#include "container/config.h"

namespace insula::container {

// capabilities.cc
void drop_bounding_set(const Capabilities& caps);
void apply_capabilities(const Capabilities& caps);  // after the uid switch
std::vector<std::string> known_capabilities();

// seccomp.cc: builds and loads the filter (throws on unknown action/arch/op);
// returns the notify fd when a rule uses SCMP_ACT_NOTIFY.
UniqueFd load_seccomp(const Seccomp& s);
bool seccomp_uses_notify(const Seccomp& s);
// create: connects to s.listener_path and sends the container process state
// (pid as the runtime sees it, the state JSON) with notify_fd; throws on failure.
void send_to_seccomp_listener(const Seccomp& s, int notify_fd, int pid, const nlohmann::json& state);
// Builds the filter without loading it: create reports a bad filter before it returns.
void check_seccomp(const Seccomp& s);
std::vector<std::string> seccomp_actions();

// process_setup.cc
void apply_rlimits(const std::vector<Rlimit>& rlimits);
void check_rlimit_name(const std::string& name);
void set_user(const User& u, bool keep_caps);
// Finds args[0] in the container's PATH (from env); throws "executable file not found".
std::string find_executable(const std::string& name, const std::vector<std::string>& env);
[[noreturn]] void exec_process(const Process& p, const std::string& path);

}  // namespace insula::container
