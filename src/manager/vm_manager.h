// VmManager: the `insula vm` verbs over the state database and the VMM
// processes. The database says what should be; /proc and each VMM's API say
// what is: every read reconciles the two and fixes the record, so a killed
// CLI or VMM never leaves a record that lies for longer than the next look.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "manager/vm_record.h"
#include "vmm/machine_config.h"
#include "manager/vm_store.h"

namespace insula::manager {

struct VmSpec {
  std::string name, kernel, initrd, cmdline;
  uint32_t cpus = 1;
  uint64_t memory = 256ULL << 20;
  std::vector<vmm::DiskConfig> disks;
  std::vector<vmm::NetConfig> nets;
  std::optional<vmm::VsockConfig> vsock;
  std::optional<vmm::BalloonConfig> balloon;
};

class VmManager {
 public:
  // insula_exe: the binary to run as `insula vmm` (normally /proc/self/exe).
  VmManager(std::string state_dir, std::string insula_exe);

  VmRecord create(const VmSpec& spec);
  VmRecord start(const std::string& name);
  // Asks the VMM to shut down (PUT /shutdown), waits up to timeout, then SIGKILL.
  VmRecord stop(const std::string& name, std::chrono::milliseconds timeout);
  VmRecord kill(const std::string& name);
  VmRecord pause(const std::string& name);
  VmRecord resume(const std::string& name);
  // The balloon of a running VM: PATCH /balloon, GET /balloon/statistics.
  void set_balloon(const std::string& name, uint32_t mib);
  nlohmann::json balloon_stats(const std::string& name);
  VmRecord info(const std::string& name);  // reconciled
  std::vector<VmRecord> list();            // reconciled
  void remove(const std::string& name, bool force);

  std::string vm_dir(const std::string& name) const;

 private:
  VmRecord existing(const std::string& name);
  VmRecord reconcile(VmRecord r);
  void mark_stopped(VmRecord& r);
  bool wait_gone(const VmRecord& r, std::chrono::milliseconds timeout);

  std::string state_dir_;
  std::string exe_;
  VmStore store_;
};

// Checks a VM name: it becomes a directory and a socket name.
void check_vm_name(const std::string& name);

}  // namespace insula::manager
