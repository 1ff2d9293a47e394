// /proc checks behind is_vmm_of.
#include "manager/vmm_process_info.h"

#include "base/fd.h"

#include <sys/socket.h>
#include <sys/un.h>

#include <cstring>
#include <fstream>
#include <sstream>
#include <vector>

namespace insula::manager {

std::optional<uint64_t> process_start_time(int64_t pid) {
  if (pid <= 0) return std::nullopt;
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string stat;
  if (!f || !std::getline(f, stat)) return std::nullopt;
  // The command name (field 2) may hold spaces and parentheses: parse after the last ')'.
  auto close = stat.rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::istringstream rest(stat.substr(close + 1));
  std::string field;
  std::vector<std::string> fields;  // fields[0] is field 3 (state)
  while (rest >> field) fields.push_back(field);
  if (fields.size() < 20) return std::nullopt;
  if (fields[0] == "Z" || fields[0] == "X") return std::nullopt;
  return std::stoull(fields[19]);  // field 22: starttime
}

bool is_vmm_of(int64_t pid, uint64_t start_time, const std::string& vm_name) {
  auto start = process_start_time(pid);
  if (!start || *start != start_time) return false;
  std::ifstream f("/proc/" + std::to_string(pid) + "/cmdline");
  std::vector<std::string> args;
  std::string arg;
  while (std::getline(f, arg, '\0')) args.push_back(arg);
  bool is_vmm = args.size() > 1 && args[1] == "vmm";
  for (size_t i = 2; is_vmm && i + 1 < args.size(); ++i) {
    if (args[i] == "--id" && args[i + 1] == vm_name) return true;
  }
  return false;
}

std::optional<int64_t> socket_server_pid(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) return std::nullopt;
  std::memcpy(addr.sun_path, path.c_str(), path.size());
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd || ::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return std::nullopt;
  ucred cred{};
  socklen_t len = sizeof cred;
  if (::getsockopt(fd.get(), SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 || cred.pid <= 0) return std::nullopt;
  return cred.pid;
}

}  // namespace insula::manager
