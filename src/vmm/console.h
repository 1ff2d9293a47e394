// ConsolePump: feeds a host input fd (the terminal, a pipe) to the guest's
// UART on its own thread, without losing bytes when the UART's buffer is
// full. On a terminal, Ctrl-A x ends the VM (Ctrl-A Ctrl-A sends Ctrl-A),
// as in QEMU.
#pragma once

#include <atomic>
#include <functional>
#include <thread>

#include "base/fd.h"
#include "devices/legacy/serial.h"

namespace insula::vmm {

class ConsolePump {
 public:
  ConsolePump(int input_fd, Serial& serial, bool escapes, std::function<void()> on_quit);
  ~ConsolePump();  // stops and joins
  ConsolePump(const ConsolePump&) = delete;
  ConsolePump& operator=(const ConsolePump&) = delete;

 private:
  void loop();

  int input_fd_;
  Serial& serial_;
  bool escapes_;
  std::function<void()> on_quit_;
  UniqueFd stop_fd_;
  std::thread thread_;
};

}  // namespace insula::vmm
