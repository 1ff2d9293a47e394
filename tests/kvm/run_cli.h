// Runs the insula binary as a child process and captures what it printed.
#pragma once

#include <cstdint>
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

bool have_kvm();
bool is_pvm();

}  // namespace insula::testing
