// Child-process runner for CLI-level tests.
#include "run_cli.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <regex>
#include <stdexcept>
#include <thread>

namespace insula::testing {

std::vector<uint64_t> printed_counts(const std::string& text, const std::string& label) {
  std::vector<uint64_t> out;
  std::regex line(label + ": (\\d+)\r?\n");
  for (auto it = std::sregex_iterator(text.begin(), text.end(), line); it != std::sregex_iterator(); ++it)
    out.push_back(std::stoull((*it)[1]));
  return out;
}

std::string settled(const std::function<std::string()>& read, std::chrono::milliseconds quiet,
                    std::chrono::milliseconds limit) {
  auto end = std::chrono::steady_clock::now() + limit;
  std::string text = read();
  while (std::chrono::steady_clock::now() < end) {
    std::this_thread::sleep_for(quiet);
    std::string again = read();
    if (again == text) break;
    text = std::move(again);
  }
  return text;
}

std::optional<uint64_t> count_after(const std::string& before, const std::string& after, const std::string& label,
                                    uint64_t last) {
  auto counts = printed_counts(before + after, label);
  auto at = std::find(counts.begin(), counts.end(), last);
  if (at == counts.end() || at + 1 == counts.end()) return std::nullopt;
  return *(at + 1);
}

Result run(const std::vector<std::string>& argv, const std::string& stdin_data, int timeout_s) {
  int in[2], out[2], err[2];
  if (pipe2(in, O_CLOEXEC) || pipe2(out, O_CLOEXEC) || pipe2(err, O_CLOEXEC)) throw std::runtime_error("pipe");
  pid_t pid = fork();
  if (pid == 0) {
    dup2(in[0], 0);
    dup2(out[1], 1);
    dup2(err[1], 2);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execvp(args[0], args.data());
    _exit(127);
  }
  close(in[0]);
  close(out[1]);
  close(err[1]);
  if (!stdin_data.empty()) {
    signal(SIGPIPE, SIG_IGN);
    [[maybe_unused]] auto n = write(in[1], stdin_data.data(), stdin_data.size());
  }
  close(in[1]);
  Result r;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
  pollfd fds[2] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}};
  int open_fds = 2;
  while (open_fds > 0) {
    int left = static_cast<int>(
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count());
    if (left <= 0) {
      kill(pid, SIGKILL);
      break;
    }
    if (poll(fds, 2, left) <= 0) continue;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP))) continue;
      char buf[4096];
      ssize_t n = read(fds[i].fd, buf, sizeof buf);
      if (n <= 0) {
        close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      } else {
        (i == 0 ? r.out : r.err).append(buf, static_cast<size_t>(n));
      }
    }
  }
  for (auto& f : fds)
    if (f.fd >= 0) close(f.fd);
  int st = 0;
  waitpid(pid, &st, 0);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  return r;
}

std::string insula_binary() { return INSULA_BINARY; }
std::string test_guest(const std::string& name) { return std::string(TEST_GUEST_DIR) + "/" + name; }

bool have_kvm() { return access("/dev/kvm", R_OK | W_OK) == 0; }
bool is_pvm() {
  struct stat st;
  return stat("/sys/module/kvm_pvm", &st) == 0;
}

Result run_vm_cli(const std::string& state_dir, const std::vector<std::string>& args, const std::string& stdin_data,
                  int timeout_s) {
  std::vector<std::string> argv{insula_binary(), "vm", "--state-dir", state_dir};
  argv.insert(argv.end(), args.begin(), args.end());
  return run(argv, stdin_data, timeout_s);
}

}  // namespace insula::testing
