// MachineConfig: everything needed to build a Machine, checked before use.
#pragma once

#include <cstdint>
#include <string>

namespace insula::vmm {

struct MachineConfig {
  std::string kernel;   // path
  std::string initrd;   // path, or empty
  std::string cmdline;
  uint32_t cpus = 1;
  uint64_t memory = 256ULL << 20;
  bool debug = false;   // register dumps on fatal guest errors
};

// How a run ended.
struct MachineExit {
  enum class Kind {
    kPowerOff,     // ACPI S5 or KVM system-event shutdown
    kReset,        // reboot asked for (i8042, ACPI reset register, KVM reset event)
    kTripleFault,  // the CPU shut down: a reset the guest did not ask for
    kDebugExit,    // the debug-exit port was written: value holds what
    kError,        // the VMM could not go on (message says why)
    kSignal,       // the VMM was asked to stop by a signal: value holds it
  };
  Kind kind = Kind::kPowerOff;
  uint32_t value = 0;
  std::string message;
};

// The documented exit status of `insula run` for each way a run ends.
int exit_status(const MachineExit& e);

}  // namespace insula::vmm
