// Test helpers: see vmm_fixture.h.
#include "vmm_fixture.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "run_cli.h"

namespace insula::testing {

TempDir::TempDir() {
  // Short: unix socket paths must fit in 108 bytes.
  char tmpl[] = "/tmp/insula-vm-XXXXXX";
  if (!mkdtemp(tmpl)) throw std::runtime_error("mkdtemp");
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

bool wait_until(const std::function<bool()>& cond, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!cond()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

std::string read_file(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

VmmProcess::VmmProcess(const std::string& dir, const std::string& id, bool capture_stderr)
    : api_socket_(dir + "/api.sock"), log_path_(dir + "/console.log"), err_path_(dir + "/vmm.err"), api_(api_socket_) {
  std::string bin = insula_binary();
  std::vector<std::string> argv{bin, "vmm", "--api-sock", api_socket_, "--id", id, "--log", log_path_};
  pid_ = fork();
  if (pid_ == 0) {
    if (capture_stderr) {
      int fd = ::open(err_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
      if (fd < 0 || ::dup2(fd, STDERR_FILENO) < 0) _exit(126);
    }
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
  // Ready when it answers: the socket file exists a moment before it listens.
  auto answers = [&] {
    try {
      return std::filesystem::exists(api_socket_) && api_.call("GET", "/").status == 200;
    } catch (const std::exception&) {
      return false;
    }
  };
  if (!wait_until(answers, std::chrono::seconds(10))) throw std::runtime_error("insula vmm did not serve its API");
}

VmmProcess::~VmmProcess() {
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
}

std::string VmmProcess::log() const { return read_file(log_path_); }

std::string VmmProcess::err() const { return read_file(err_path_); }

int VmmProcess::wait_exit(std::chrono::milliseconds timeout) {
  int status = 0;
  bool done = wait_until([&] { return waitpid(pid_, &status, WNOHANG) == pid_; }, timeout);
  if (!done) return -1;
  pid_ = -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

}  // namespace insula::testing
