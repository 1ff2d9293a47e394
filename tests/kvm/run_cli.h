// Runs the insula binary as a child process and captures what it printed.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace insula::testing {

struct Result {
  int status = -1;  // exit status, or 128+signal
  std::string out, err;
};

// argv[0] is the program; stdin_data is written to its stdin then closed.
Result run(const std::vector<std::string>& argv, const std::string& stdin_data = {}, int timeout_s = 60);

// `insula vm --state-dir STATE_DIR ARGS...`, as the VM-management CLI tests run it.
Result run_vm_cli(const std::string& state_dir, const std::vector<std::string>& args, const std::string& stdin_data = {},
                  int timeout_s = 60);

// Paths provided by CMake.
std::string insula_binary();
std::string test_guest(const std::string& name);

// Every N of the lines "LABEL: N" in a guest's console text, in order
// (the guest kit's counters print "counter: N", "diskcount: N").
std::vector<uint64_t> printed_counts(const std::string& text, const std::string& label);
// What read() returns once it stopped changing for `quiet` (or after
// `limit`): a paused VM's console log, whose last bytes the VMM writes from
// its event loop after the pause (in the test host 100 ms was not enough).
std::string settled(const std::function<std::string()>& read, std::chrono::milliseconds quiet = std::chrono::milliseconds(300),
                    std::chrono::milliseconds limit = std::chrono::milliseconds(5000));
// The count printed right after `last` across a snapshot: the output up to
// the snapshot (`before`) and the restored guest's (`after`) joined, since a
// pause can land inside a "label: N" line whose rest the restored guest then
// prints first (seen in the test host). nullopt when nothing follows `last`.
std::optional<uint64_t> count_after(const std::string& before, const std::string& after, const std::string& label,
                                    uint64_t last);

bool have_kvm();
bool is_pvm();

}  // namespace insula::testing
