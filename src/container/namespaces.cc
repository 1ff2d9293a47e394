// Namespace creation and joining.
#include "container/namespaces.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/stat.h>
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

void write_id_map(pid_t pid, const char* file, const std::vector<IdMapping>& maps) {
  std::string text;
  for (const auto& m : maps) text += fmt::format("{} {} {}\n", m.container_id, m.host_id, m.size);
  std::string path = fmt::format("/proc/{}/{}", pid, file);
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd || ::write(fd.get(), text.data(), text.size()) != static_cast<ssize_t>(text.size()))
    throw errno_error(fmt::format("write {} ({})", path, text.empty() ? "empty" : text.substr(0, text.size() - 1)));
}

void write_id_mappings(pid_t pid, const Config& c) {
  write_id_map(pid, "uid_map", c.uid_mappings);
  write_id_map(pid, "gid_map", c.gid_mappings);
}

std::vector<NsFd> open_namespaces(pid_t pid) {
  std::vector<NsFd> out;
  const std::pair<const char*, int> kinds[] = {{"user", CLONE_NEWUSER}, {"ipc", CLONE_NEWIPC},   {"uts", CLONE_NEWUTS},
                                               {"net", CLONE_NEWNET},   {"pid", CLONE_NEWPID},   {"cgroup", CLONE_NEWCGROUP},
                                               {"time", CLONE_NEWTIME}, {"mnt", CLONE_NEWNS}};
  for (const auto& [name, type] : kinds) {
    std::string theirs = fmt::format("/proc/{}/ns/{}", pid, name), ours = fmt::format("/proc/self/ns/{}", name);
    struct stat a {}, b {};
    if (::stat(theirs.c_str(), &a) != 0) continue;
    if (::stat(ours.c_str(), &b) == 0 && a.st_ino == b.st_ino && a.st_dev == b.st_dev) continue;
    UniqueFd fd(::open(theirs.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) throw errno_error(fmt::format("open {}", theirs));
    out.push_back({type, std::move(fd)});
  }
  return out;
}

bool enter_namespaces(const std::vector<NsFd>& namespaces) {
  bool children_only = false;
  for (const auto& ns : namespaces) {
    if (::setns(ns.fd.get(), ns.type) != 0) throw errno_error(fmt::format("join namespace {:#x}", ns.type));
    children_only |= ns.type == CLONE_NEWPID || ns.type == CLONE_NEWTIME;
  }
  return children_only;
}

}  // namespace insula::container
