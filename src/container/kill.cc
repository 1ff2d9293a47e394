// `kill`: a signal to the init process, or to every process of the container (--all).
#include <signal.h>

#include <map>

#include "base/error.h"
#include "container/runtime.h"

namespace insula::container {

int parse_signal(const std::string& s) {
  if (s.empty()) return SIGTERM;
  if (std::all_of(s.begin(), s.end(), ::isdigit)) {
    int n = std::stoi(s);
    if (n <= 0 || n >= NSIG) throw error("unknown signal \"{}\"", s);
    return n;
  }
  std::string name = s.rfind("SIG", 0) == 0 ? s.substr(3) : s;
  for (auto& c : name) c = toupper(c);
  static const std::map<std::string, int> kSignals = {
      {"HUP", SIGHUP},   {"INT", SIGINT},     {"QUIT", SIGQUIT}, {"ILL", SIGILL},   {"TRAP", SIGTRAP}, {"ABRT", SIGABRT},
      {"IOT", SIGIOT},   {"BUS", SIGBUS},     {"FPE", SIGFPE},   {"KILL", SIGKILL}, {"USR1", SIGUSR1}, {"SEGV", SIGSEGV},
      {"USR2", SIGUSR2}, {"PIPE", SIGPIPE},   {"ALRM", SIGALRM}, {"TERM", SIGTERM}, {"STKFLT", SIGSTKFLT},
      {"CHLD", SIGCHLD}, {"CONT", SIGCONT},   {"STOP", SIGSTOP}, {"TSTP", SIGTSTP}, {"TTIN", SIGTTIN}, {"TTOU", SIGTTOU},
      {"URG", SIGURG},   {"XCPU", SIGXCPU},   {"XFSZ", SIGXFSZ}, {"VTALRM", SIGVTALRM}, {"PROF", SIGPROF},
      {"WINCH", SIGWINCH}, {"IO", SIGIO},     {"POLL", SIGPOLL}, {"PWR", SIGPWR},   {"SYS", SIGSYS}};
  if (auto it = kSignals.find(name); it != kSignals.end()) return it->second;
  if (name.rfind("RTMIN", 0) == 0 || name.rfind("RTMAX", 0) == 0) {
    int base = name.rfind("RTMIN", 0) == 0 ? SIGRTMIN : SIGRTMAX;
    int off = name.size() > 5 ? std::stoi(name.substr(5)) : 0;
    return base + off;
  }
  throw error("unknown signal \"{}\"", s);
}

void kill_container(const Runtime& rt, const std::string& id, int sig, bool all) {
  ContainerRecord rec = load_record(rt, id);
  Status s = container_status(rt, rec);
  if (s == Status::kStopped && !all) throw error("container not running");
  Cgroups cg(rec.cgroup_dirs);
  if (all) {
    cg.kill_all(sig);
    // Stopped processes in a frozen cgroup only see SIGKILL once thawed.
    if (sig == SIGKILL && s == Status::kPaused) cg.freeze(false);
    return;
  }
  if (::kill(rec.pid, sig) != 0) {
    if (errno == ESRCH) throw error("container not running: no such process");
    throw errno_error(fmt::format("kill {}", rec.pid));
  }
}

}  // namespace insula::container
