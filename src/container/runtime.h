// The runtime's verbs (one file each: create.cc, start.cc, run.cc, kill.cc,
// delete.cc, exec.cc, pause.cc, ps.cc, update.cc, features.cc). cli/runc*.cc
// parses runc's flags and calls these.
#pragma once

#include <sys/types.h>

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "base/fd.h"
#include "container/config.h"
#include "container/state.h"

namespace insula::container {

struct CreateOptions {
  std::string bundle = ".";
  std::string pid_file;
  std::string console_socket;
  int preserve_fds = 0;
  bool no_pivot = false;
  // For `run` with a terminal and no console socket: the runtime's own end.
  int console_fd = -1;
  // For `run`: bundle/config.json already parsed (bundle is then absolute).
  const Config* config = nullptr;
};

// Sets up the container and leaves its process blocked before exec until
// start. Returns the container process's pid (a child of the caller).
pid_t create_container(const Runtime& rt, const std::string& id, const CreateOptions& o);
// `config`: the bundle's config when the caller has it parsed already (`run`).
void start_container(const Runtime& rt, const std::string& id, const Config* config = nullptr);
// create + start; without detach waits and returns the exit status, then deletes.
int run_container(const Runtime& rt, const std::string& id, const CreateOptions& o, bool detach);
void kill_container(const Runtime& rt, const std::string& id, int signal, bool all);
void delete_container(const Runtime& rt, const std::string& id, bool force, const Config* config = nullptr);
void pause_container(const Runtime& rt, const std::string& id);
void resume_container(const Runtime& rt, const std::string& id);
std::vector<pid_t> container_pids(const Runtime& rt, const std::string& id);
void update_container(const Runtime& rt, const std::string& id, const nlohmann::json& resources);

struct ExecOptions {
  Process process;
  bool detach = false;
  std::string pid_file;
  std::string console_socket;
  int preserve_fds = 0;
};
// Starts a process in a running container; returns its exit status (0 with detach).
int exec_container(const Runtime& rt, const std::string& id, const ExecOptions& o);

nlohmann::json features_json();
int parse_signal(const std::string& s);  // "KILL", "SIGKILL", "9"

// Shared by the verbs: wait until a non-child pid is gone (bounded).
bool wait_gone(pid_t pid, unsigned long long start, int timeout_ms);
void write_pid_file(const std::string& path, pid_t pid);
void remove_tree(const std::string& path);

}  // namespace insula::container
