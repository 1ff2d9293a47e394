// Console input pump.
#include "vmm/console.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

#include "base/error.h"

namespace insula::vmm {

namespace {
constexpr uint8_t kCtrlA = 0x01;
}

ConsolePump::ConsolePump(int input_fd, Serial& serial, bool escapes, std::function<void()> on_quit)
    : input_fd_(input_fd),
      serial_(serial),
      escapes_(escapes),
      on_quit_(std::move(on_quit)),
      stop_fd_(::eventfd(0, EFD_CLOEXEC)) {
  if (!stop_fd_) throw errno_error("creating console eventfd");
  thread_ = std::thread([this] { loop(); });
}

ConsolePump::~ConsolePump() {
  uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(stop_fd_.get(), &one, sizeof one);
  thread_.join();
}

void ConsolePump::loop() {
  std::vector<uint8_t> pending;
  bool saw_ctrl_a = false;
  bool input_open = true;
  while (true) {
    pollfd fds[2] = {{stop_fd_.get(), POLLIN, 0}, {input_fd_, POLLIN, 0}};
    // While bytes wait for room in the UART, poll with a short timeout and
    // do not read more input.
    bool want_input = input_open && pending.empty();
    int n = ::poll(fds, want_input ? 2 : 1, pending.empty() ? -1 : 2);
    if (n < 0 && errno != EINTR) return;
    if (fds[0].revents) return;
    if (!pending.empty()) {
      size_t done = serial_.push_input(pending);
      pending.erase(pending.begin(), pending.begin() + static_cast<std::ptrdiff_t>(done));
      continue;
    }
    if (!want_input || !(fds[1].revents & (POLLIN | POLLHUP | POLLERR))) continue;
    uint8_t buf[1024];
    ssize_t got = ::read(input_fd_, buf, sizeof buf);
    if (got <= 0) {
      if (got < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      input_open = false;  // EOF: the guest keeps running without input
      continue;
    }
    for (ssize_t i = 0; i < got; ++i) {
      uint8_t c = buf[i];
      if (escapes_ && saw_ctrl_a) {
        saw_ctrl_a = false;
        if (c == 'x' || c == 'X') {
          on_quit_();
          return;
        }
        pending.push_back(c == kCtrlA ? kCtrlA : c);
        continue;
      }
      if (escapes_ && c == kCtrlA) {
        saw_ctrl_a = true;
        continue;
      }
      pending.push_back(c);
    }
    size_t done = serial_.push_input(pending);
    pending.erase(pending.begin(), pending.begin() + static_cast<std::ptrdiff_t>(done));
  }
}

}  // namespace insula::vmm
