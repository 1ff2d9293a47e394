// Is a pid (still) the insula VMM of a given VM? Checked from /proc: alive,
// not a zombie, same start time as recorded, and its command line is
// `... vmm ... --id NAME`. This is what makes a record that outlived its
// process detectable.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace insula::manager {

// The process's start time (clock ticks since boot), or nullopt if it is
// gone or a zombie.
std::optional<uint64_t> process_start_time(int64_t pid);

bool is_vmm_of(int64_t pid, uint64_t start_time, const std::string& vm_name);

// The pid of the process serving a unix socket (SO_PEERCRED), if one does.
// Finds a VMM whose CLI died before it could record the pid.
std::optional<int64_t> socket_server_pid(const std::string& path);

}  // namespace insula::manager
