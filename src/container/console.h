// Terminals: the console-socket protocol (pty master sent with SCM_RIGHTS).
#pragma once

#include <optional>
#include <string>
#include <utility>

#include "base/fd.h"

namespace insula::container {

UniqueFd connect_console_socket(const std::string& path);
// In the container: opens a pty from /dev/ptmx, sends the master over `socket`,
// and makes the slave the controlling terminal on fds 0-2.
void setup_console(int socket, std::optional<std::pair<unsigned, unsigned>> size);
void send_fd(int socket, int fd, const std::string& name);
UniqueFd receive_fd(int socket);
// One message and the file descriptor it carries (none: an empty UniqueFd).
UniqueFd receive_fd_message(int socket, std::string* text);

}  // namespace insula::container
