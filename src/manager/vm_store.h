// VmStore: the VM records in <state-dir>/insula.db (SQLite, WAL). Each call
// is one transaction, so a killed CLI leaves either the old or the new row.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "manager/vm_record.h"

struct sqlite3;

namespace insula::manager {

class VmStore {
 public:
  explicit VmStore(const std::string& state_dir);  // creates the dir and schema
  ~VmStore();
  VmStore(const VmStore&) = delete;
  VmStore& operator=(const VmStore&) = delete;

  void insert(const VmRecord& r);  // throws if the name is taken
  std::optional<VmRecord> get(const std::string& name);
  std::vector<VmRecord> list();
  void set_runtime(const std::string& name, const std::string& state, int64_t pid, uint64_t pid_start);
  void remove(const std::string& name);  // and its snapshot records

  void insert_snapshot(const SnapshotRecord& s);  // throws if the name is taken for that VM
  std::optional<SnapshotRecord> get_snapshot(const std::string& vm, const std::string& name);
  std::vector<SnapshotRecord> list_snapshots(const std::string& vm);
  void remove_snapshot(const std::string& vm, const std::string& name);

  // One transaction (vm import): the VM, its snapshots, and before_commit
  // (which moves the files into place); any failure rolls all back.
  void insert_with_snapshots(const VmRecord& r, const std::vector<SnapshotRecord>& snaps,
                             const std::function<void()>& before_commit);
  // Clones and images (vm_clone.cc, vm_image.cc). insert_clone adds the VM
  // and the bases it depends on in one transaction.
  void insert_clone(const VmRecord& r, const std::vector<BaseRef>& bases);
  std::vector<BaseRef> bases_owned_by(const std::string& kind, const std::string& owner);
  std::vector<BaseRef> clones_of(const std::string& base_path);
  void insert_image(const ImageRecord& r);  // throws if the name is taken
  std::optional<ImageRecord> get_image(const std::string& name);
  std::vector<ImageRecord> list_images();
  void remove_image(const std::string& name);

 private:
  void exec(const char* sql);
  void insert_vm(const VmRecord& r);  // one statement, inside or outside a transaction
  void migrate();
  // Runs body in one BEGIN IMMEDIATE ... COMMIT; rolls back and rethrows on any failure.
  void in_write_transaction(const std::function<void()>& body);  // brings an older database's schema up to date
  bool has_column(const char* table, const char* column);
  sqlite3* db_ = nullptr;
  std::string path_;
};

}  // namespace insula::manager
