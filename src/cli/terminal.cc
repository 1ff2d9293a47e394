// Terminal raw mode.
#include "cli/terminal.h"

#include <unistd.h>

namespace insula::cli {

RawTerminal::RawTerminal(int fd) : fd_(fd) {
  if (!::isatty(fd) || ::tcgetattr(fd, &saved_) != 0) return;
  termios raw = saved_;
  // Input goes to the guest untouched (Ctrl-C included); output processing
  // stays on so the guest's "\n" still returns the cursor.
  raw.c_iflag &= ~static_cast<tcflag_t>(IGNBRK | BRKINT | PARMRK | ISTRIP | INLCR | IGNCR | ICRNL | IXON);
  raw.c_lflag &= ~static_cast<tcflag_t>(ECHO | ECHONL | ICANON | ISIG | IEXTEN);
  raw.c_cflag |= CS8;
  raw.c_cc[VMIN] = 1;
  raw.c_cc[VTIME] = 0;
  if (::tcsetattr(fd, TCSANOW, &raw) == 0) active_ = true;
}

RawTerminal::~RawTerminal() { restore(); }

void RawTerminal::restore() {
  if (active_) ::tcsetattr(fd_, TCSANOW, &saved_);
  active_ = false;
}

}  // namespace insula::cli
