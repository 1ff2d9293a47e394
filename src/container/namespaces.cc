// Namespace creation and joining.
#include "container/namespaces.h"

#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include "base/error.h"
#include "base/fd.h"

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

namespace insula::container {

int namespace_flag(const std::string& type) {
  if (type == "pid") return CLONE_NEWPID;
  if (type == "network") return CLONE_NEWNET;
  if (type == "mount") return CLONE_NEWNS;
  if (type == "ipc") return CLONE_NEWIPC;
  if (type == "uts") return CLONE_NEWUTS;
  if (type == "user") return CLONE_NEWUSER;
  if (type == "cgroup") return CLONE_NEWCGROUP;
  if (type == "time") return CLONE_NEWTIME;
  throw error("unknown namespace type '{}'", type);
}

const char* proc_ns_name(const std::string& type) {
  if (type == "network") return "net";
  if (type == "mount") return "mnt";
  if (type == "pid") return "pid";
  if (type == "ipc") return "ipc";
  if (type == "uts") return "uts";
  if (type == "user") return "user";
  if (type == "cgroup") return "cgroup";
  if (type == "time") return "time";
  return "";
}

unsigned long clone_flags(const Config& c) {
  unsigned long flags = 0;
  for (const auto& ns : c.namespaces)
    if (ns.path.empty() && ns.type != "cgroup" && ns.type != "time") flags |= namespace_flag(ns.type);
  return flags;
}

void join_namespace_paths(const Config& c, bool parent_side) {
  auto join = [](const Namespace& ns) {
    UniqueFd fd(::open(ns.path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) throw errno_error(fmt::format("open {} namespace {}", ns.type, ns.path));
    if (::setns(fd.get(), namespace_flag(ns.type)) != 0) throw errno_error(fmt::format("join {} namespace {}", ns.type, ns.path));
  };
  for (const auto& ns : c.namespaces) {
    if (ns.path.empty()) continue;
    bool parent_kind = ns.type == "pid" || ns.type == "time";
    if (parent_kind != parent_side) continue;
    if (ns.type == "user") join(ns);
  }
  for (const auto& ns : c.namespaces) {
    if (ns.path.empty() || ns.type == "user") continue;
    bool parent_kind = ns.type == "pid" || ns.type == "time";
    if (parent_kind == parent_side) join(ns);
  }
}

void write_id_mappings(pid_t pid, const Config& c) {
  auto write = [pid](const char* file, const std::vector<IdMapping>& maps) {
    std::string text;
    for (const auto& m : maps) text += fmt::format("{} {} {}\n", m.container_id, m.host_id, m.size);
    std::string path = fmt::format("/proc/{}/{}", pid, file);
    UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
    if (!fd || ::write(fd.get(), text.data(), text.size()) != static_cast<ssize_t>(text.size()))
      throw errno_error(fmt::format("write {} ({})", path, text.empty() ? "empty" : text.substr(0, text.size() - 1)));
  };
  write("uid_map", c.uid_mappings);
  write("gid_map", c.gid_mappings);
}

}  // namespace insula::container
