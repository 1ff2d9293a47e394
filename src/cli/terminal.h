// RawTerminal: puts a terminal in raw input mode for the guest console and
// restores it on every exit path (destructor, and fatal signals).
#pragma once

#include <termios.h>

namespace insula::cli {

class RawTerminal {
 public:
  explicit RawTerminal(int fd);  // no-op when fd is not a terminal
  ~RawTerminal();
  RawTerminal(const RawTerminal&) = delete;
  RawTerminal& operator=(const RawTerminal&) = delete;
  bool active() const { return active_; }
  void restore();  // early, before an exit that skips destructors

 private:
  int fd_;
  bool active_ = false;
  termios saved_{};
};

}  // namespace insula::cli
