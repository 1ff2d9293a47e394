// `insula container ...`: containers made from stored images. Each one gets
// <state>/containers/<id>/ with an overlayfs rootfs (image layers as lower
// dirs, a private upper), a generated config.json, and a log file; the
// runtime verbs do the rest, with their state in <state>/runc.
#pragma once

#include <string>
#include <vector>

#include "container/image_store.h"
#include "container/runtime.h"

namespace insula::container {

struct ManagedCreate {
  std::string image;
  std::vector<std::string> args;  // empty: the image's Entrypoint + Cmd
  std::vector<std::string> env;
  std::string name;
  bool log_to_file = true;        // stdout/stderr to <id>/log (detached containers)
  bool terminal = false;          // a pseudo-terminal, proxied by a foreground `run`
};

struct ManagedInfo {
  std::string id, image, status, created;
  std::vector<std::string> args;
};

class Containers {
 public:
  explicit Containers(std::string state_dir);

  std::string create(const ManagedCreate& o);       // returns the id; process waits for start
  void start(const std::string& id);
  int run(const ManagedCreate& o, bool detach, bool remove, std::string* id_out);
  int exec(const std::string& id, const std::vector<std::string>& args);
  std::vector<ManagedInfo> list();
  void stop(const std::string& id, int timeout_s);
  void remove(const std::string& id, bool force);
  std::string logs(const std::string& id);

  ImageStore& images() { return store_; }
  const Runtime& runtime() const { return rt_; }

 private:
  std::string prepare(const ManagedCreate& o);  // dirs, overlay mount, config.json
  std::string dir(const std::string& id) const { return state_ + "/containers/" + id; }
  std::string resolve(const std::string& id_or_name) const;

  std::string state_;
  ImageStore store_;
  Runtime rt_;
};

// The state directory: --state-dir, else $INSULA_STATE_DIR, else /var/lib/insula.
std::string default_state_dir();

}  // namespace insula::container
