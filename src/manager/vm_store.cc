// VmStore over the sqlite3 C API (prepared statements only).
#include "manager/vm_store.h"

#include <sqlite3.h>
#include <sys/stat.h>

#include <ctime>
#include <filesystem>
#include <memory>

#include "base/error.h"

namespace insula::manager {

namespace {

struct StmtDeleter {
  void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
};
using Stmt = std::unique_ptr<sqlite3_stmt, StmtDeleter>;

Stmt prepare(sqlite3* db, const char* sql) {
  sqlite3_stmt* s = nullptr;
  if (sqlite3_prepare_v2(db, sql, -1, &s, nullptr) != SQLITE_OK)
    throw error("state database: cannot prepare a statement: {}", sqlite3_errmsg(db));
  return Stmt(s);
}

void bind_text(sqlite3_stmt* s, int i, const std::string& v) { sqlite3_bind_text(s, i, v.c_str(), -1, SQLITE_TRANSIENT); }

std::string column_text(sqlite3_stmt* s, int i) {
  const unsigned char* t = sqlite3_column_text(s, i);
  return t ? reinterpret_cast<const char*>(t) : "";
}

void step_done(sqlite3* db, sqlite3_stmt* s) {
  if (sqlite3_step(s) != SQLITE_DONE) throw error("state database: {}", sqlite3_errmsg(db));
}

constexpr const char* kColumns =
    "name, kernel, initrd, cmdline, cpus, memory, state, pid, pid_start, api_socket, console_socket, log_path, created_at, devices";

VmRecord read_row(sqlite3_stmt* s) {
  VmRecord r;
  r.name = column_text(s, 0);
  r.kernel = column_text(s, 1);
  r.initrd = column_text(s, 2);
  r.cmdline = column_text(s, 3);
  r.cpus = static_cast<uint32_t>(sqlite3_column_int64(s, 4));
  r.memory = static_cast<uint64_t>(sqlite3_column_int64(s, 5));
  r.state = column_text(s, 6);
  r.pid = sqlite3_column_int64(s, 7);
  r.pid_start = static_cast<uint64_t>(sqlite3_column_int64(s, 8));
  r.api_socket = column_text(s, 9);
  r.console_socket = column_text(s, 10);
  r.log_path = column_text(s, 11);
  r.created_at = sqlite3_column_int64(s, 12);
  r.devices = column_text(s, 13);
  return r;
}

}  // namespace

VmStore::VmStore(const std::string& state_dir) : path_(state_dir + "/insula.db") {
  std::error_code ec;
  bool created = std::filesystem::create_directories(state_dir, ec);
  if (ec) throw error("cannot create the state directory {}: {} (set --state-dir or INSULA_STATE_DIR)", state_dir, ec.message());
  if (created) ::chmod(state_dir.c_str(), 0700);  // only ours: never narrow a directory the user gave us
  if (sqlite3_open_v2(path_.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, nullptr) != SQLITE_OK) {
    std::string msg = db_ ? sqlite3_errmsg(db_) : "out of memory";
    sqlite3_close(db_);
    throw error("cannot open the state database {}: {}", path_, msg);
  }
  // Several CLIs may run at once: wait for each other instead of failing.
  sqlite3_busy_timeout(db_, 5000);
  exec("PRAGMA journal_mode=WAL");
  exec("PRAGMA synchronous=NORMAL");
  // Each CLI is a short process, and SQLite checkpoints the WAL into the
  // database (two fdatasyncs) when its last connection closes: tens of ms at
  // the end of every `insula vm` command on a busy disk (strace of vm start).
  // SQLite's automatic checkpoint (every 1000 WAL pages) does it instead.
  // synchronous=NORMAL already let a power loss undo the latest commits; it
  // is now those since the last checkpoint. A process crash loses nothing.
  sqlite3_db_config(db_, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, nullptr);
  exec("CREATE TABLE IF NOT EXISTS vms ("
       " name TEXT PRIMARY KEY, kernel TEXT NOT NULL, initrd TEXT NOT NULL, cmdline TEXT NOT NULL,"
       " cpus INTEGER NOT NULL, memory INTEGER NOT NULL, state TEXT NOT NULL, pid INTEGER NOT NULL,"
       " pid_start INTEGER NOT NULL, api_socket TEXT NOT NULL, console_socket TEXT NOT NULL,"
       " log_path TEXT NOT NULL, created_at INTEGER NOT NULL)");
  exec("CREATE TABLE IF NOT EXISTS snapshots ("
       " vm TEXT NOT NULL, name TEXT NOT NULL, state_path TEXT NOT NULL, memory_path TEXT NOT NULL,"
       " memory INTEGER NOT NULL, created_at INTEGER NOT NULL, PRIMARY KEY (vm, name))");
  exec("CREATE TABLE IF NOT EXISTS clone_bases ("
       " vm TEXT NOT NULL, base TEXT NOT NULL, owner_kind TEXT NOT NULL, owner TEXT NOT NULL, PRIMARY KEY (vm, base))");
  exec("CREATE TABLE IF NOT EXISTS images ("
       " name TEXT PRIMARY KEY, dir TEXT NOT NULL, config TEXT NOT NULL, source TEXT NOT NULL, created_at INTEGER NOT NULL)");
  migrate();
}

bool VmStore::has_column(const char* table, const char* column) {
  auto s = prepare(db_, fmt::format("PRAGMA table_info({})", table).c_str());
  int rc;
  while ((rc = sqlite3_step(s.get())) == SQLITE_ROW)
    if (column_text(s.get(), 1) == column) return true;
  if (rc != SQLITE_DONE) throw error("state database: {}", sqlite3_errmsg(db_));
  return false;
}

void VmStore::migrate() {
  // Columns added since the first schema, each only where it is missing, so
  // databases of every earlier version open. One write transaction: two
  // CLIs opening an old database at once do not both add a column.
  if (has_column("vms", "devices") && has_column("snapshots", "kind")) return;
  in_write_transaction([&] {
    if (!has_column("vms", "devices")) exec("ALTER TABLE vms ADD COLUMN devices TEXT NOT NULL DEFAULT '{}'");
    // Snapshots from before disk-only ones existed are all full ones.
    if (!has_column("snapshots", "kind")) exec("ALTER TABLE snapshots ADD COLUMN kind TEXT NOT NULL DEFAULT 'full'");
  });
}

void VmStore::in_write_transaction(const std::function<void()>& body) {
  // IMMEDIATE takes the write lock at once: two CLIs cannot interleave.
  exec("BEGIN IMMEDIATE");
  try {
    body();
    exec("COMMIT");
  } catch (...) {
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    throw;
  }
}

VmStore::~VmStore() { sqlite3_close(db_); }

void VmStore::exec(const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : sqlite3_errmsg(db_);
    sqlite3_free(err);
    throw error("state database {}: {}", path_, msg);
  }
}

void VmStore::insert(const VmRecord& r) {
  insert_vm(r);
}

void VmStore::insert_vm(const VmRecord& r) {
  auto s = prepare(db_, fmt::format("INSERT INTO vms ({}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)", kColumns).c_str());
  bind_text(s.get(), 1, r.name);
  bind_text(s.get(), 2, r.kernel);
  bind_text(s.get(), 3, r.initrd);
  bind_text(s.get(), 4, r.cmdline);
  sqlite3_bind_int64(s.get(), 5, r.cpus);
  sqlite3_bind_int64(s.get(), 6, static_cast<int64_t>(r.memory));
  bind_text(s.get(), 7, r.state);
  sqlite3_bind_int64(s.get(), 8, r.pid);
  sqlite3_bind_int64(s.get(), 9, static_cast<int64_t>(r.pid_start));
  bind_text(s.get(), 10, r.api_socket);
  bind_text(s.get(), 11, r.console_socket);
  bind_text(s.get(), 12, r.log_path);
  sqlite3_bind_int64(s.get(), 13, r.created_at ? r.created_at : static_cast<int64_t>(std::time(nullptr)));
  bind_text(s.get(), 14, r.devices);
  int rc = sqlite3_step(s.get());
  if (rc == SQLITE_CONSTRAINT) throw error("a VM named {} already exists", r.name);
  if (rc != SQLITE_DONE) throw error("state database: {}", sqlite3_errmsg(db_));
}

std::optional<VmRecord> VmStore::get(const std::string& name) {
  auto s = prepare(db_, fmt::format("SELECT {} FROM vms WHERE name = ?", kColumns).c_str());
  bind_text(s.get(), 1, name);
  int rc = sqlite3_step(s.get());
  if (rc == SQLITE_ROW) return read_row(s.get());
  if (rc != SQLITE_DONE) throw error("state database: {}", sqlite3_errmsg(db_));
  return std::nullopt;
}

std::vector<VmRecord> VmStore::list() {
  auto s = prepare(db_, fmt::format("SELECT {} FROM vms ORDER BY name", kColumns).c_str());
  std::vector<VmRecord> out;
  int rc;
  while ((rc = sqlite3_step(s.get())) == SQLITE_ROW) out.push_back(read_row(s.get()));
  if (rc != SQLITE_DONE) throw error("state database: {}", sqlite3_errmsg(db_));
  return out;
}

void VmStore::set_runtime(const std::string& name, const std::string& state, int64_t pid, uint64_t pid_start) {
  auto s = prepare(db_, "UPDATE vms SET state = ?, pid = ?, pid_start = ? WHERE name = ?");
  bind_text(s.get(), 1, state);
  sqlite3_bind_int64(s.get(), 2, pid);
  sqlite3_bind_int64(s.get(), 3, static_cast<int64_t>(pid_start));
  bind_text(s.get(), 4, name);
  step_done(db_, s.get());
}

void VmStore::remove(const std::string& name) {
  auto s = prepare(db_, "DELETE FROM vms WHERE name = ?");
  bind_text(s.get(), 1, name);
  step_done(db_, s.get());
  auto snaps = prepare(db_, "DELETE FROM snapshots WHERE vm = ?");
  bind_text(snaps.get(), 1, name);
  step_done(db_, snaps.get());
  auto bases = prepare(db_, "DELETE FROM clone_bases WHERE vm = ?");
  bind_text(bases.get(), 1, name);
  step_done(db_, bases.get());
}

namespace {
constexpr const char* kSnapshotColumns = "vm, name, state_path, memory_path, memory, created_at, kind";

SnapshotRecord read_snapshot(sqlite3_stmt* s) {
  SnapshotRecord r;
  r.vm = column_text(s, 0);
  r.name = column_text(s, 1);
  r.state_path = column_text(s, 2);
  r.memory_path = column_text(s, 3);
  r.memory = static_cast<uint64_t>(sqlite3_column_int64(s, 4));
  r.created_at = sqlite3_column_int64(s, 5);
  r.kind = column_text(s, 6);
  return r;
}
}  // namespace

void VmStore::insert_snapshot(const SnapshotRecord& r) {
  auto s = prepare(db_, fmt::format("INSERT INTO snapshots ({}) VALUES (?,?,?,?,?,?,?)", kSnapshotColumns).c_str());
  bind_text(s.get(), 1, r.vm);
  bind_text(s.get(), 2, r.name);
  bind_text(s.get(), 3, r.state_path);
  bind_text(s.get(), 4, r.memory_path);
  sqlite3_bind_int64(s.get(), 5, static_cast<int64_t>(r.memory));
  sqlite3_bind_int64(s.get(), 6, r.created_at ? r.created_at : static_cast<int64_t>(std::time(nullptr)));
  bind_text(s.get(), 7, r.kind);
  int rc = sqlite3_step(s.get());
  if (rc == SQLITE_CONSTRAINT) throw error("VM {} already has a snapshot named {}", r.vm, r.name);
  if (rc != SQLITE_DONE) throw error("state database: {}", sqlite3_errmsg(db_));
}

std::optional<SnapshotRecord> VmStore::get_snapshot(const std::string& vm, const std::string& name) {
  auto s = prepare(db_, fmt::format("SELECT {} FROM snapshots WHERE vm = ? AND name = ?", kSnapshotColumns).c_str());
  bind_text(s.get(), 1, vm);
  bind_text(s.get(), 2, name);
  int rc = sqlite3_step(s.get());
  if (rc == SQLITE_ROW) return read_snapshot(s.get());
  if (rc != SQLITE_DONE) throw error("state database: {}", sqlite3_errmsg(db_));
  return std::nullopt;
}

std::vector<SnapshotRecord> VmStore::list_snapshots(const std::string& vm) {
  auto s = prepare(db_, fmt::format("SELECT {} FROM snapshots WHERE vm = ? ORDER BY created_at, name", kSnapshotColumns).c_str());
  bind_text(s.get(), 1, vm);
  std::vector<SnapshotRecord> out;
  int rc;
  while ((rc = sqlite3_step(s.get())) == SQLITE_ROW) out.push_back(read_snapshot(s.get()));
  if (rc != SQLITE_DONE) throw error("state database: {}", sqlite3_errmsg(db_));
  return out;
}

void VmStore::remove_snapshot(const std::string& vm, const std::string& name) {
  auto s = prepare(db_, "DELETE FROM snapshots WHERE vm = ? AND name = ?");
  bind_text(s.get(), 1, vm);
  bind_text(s.get(), 2, name);
  step_done(db_, s.get());
}

void VmStore::insert_with_snapshots(const VmRecord& r, const std::vector<SnapshotRecord>& snaps,
                                    const std::function<void()>& before_commit) {
  in_write_transaction([&] {
    insert_vm(r);
    for (const auto& s : snaps) insert_snapshot(s);
    before_commit();
  });
}

// Clones and images.

void VmStore::insert_clone(const VmRecord& r, const std::vector<BaseRef>& bases) {
  in_write_transaction([&] {
    insert_vm(r);
    for (const auto& b : bases) {
      auto s = prepare(db_, "INSERT OR IGNORE INTO clone_bases (vm, base, owner_kind, owner) VALUES (?,?,?,?)");
      bind_text(s.get(), 1, b.vm);
      bind_text(s.get(), 2, b.base);
      bind_text(s.get(), 3, b.owner_kind);
      bind_text(s.get(), 4, b.owner);
      step_done(db_, s.get());
    }
  });
}

namespace {
std::vector<BaseRef> read_bases(sqlite3* db, sqlite3_stmt* s) {
  std::vector<BaseRef> out;
  int rc;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW)
    out.push_back({column_text(s, 0), column_text(s, 1), column_text(s, 2), column_text(s, 3)});
  if (rc != SQLITE_DONE) throw error("state database: {}", sqlite3_errmsg(db));
  return out;
}
}  // namespace

std::vector<BaseRef> VmStore::bases_owned_by(const std::string& kind, const std::string& owner) {
  auto s = prepare(db_, "SELECT vm, base, owner_kind, owner FROM clone_bases WHERE owner_kind = ? AND owner = ? ORDER BY vm");
  bind_text(s.get(), 1, kind);
  bind_text(s.get(), 2, owner);
  return read_bases(db_, s.get());
}

std::vector<BaseRef> VmStore::clones_of(const std::string& base_path) {
  auto s = prepare(db_, "SELECT vm, base, owner_kind, owner FROM clone_bases WHERE base = ? ORDER BY vm");
  bind_text(s.get(), 1, base_path);
  return read_bases(db_, s.get());
}

namespace {
constexpr const char* kImageColumns = "name, dir, config, source, created_at";

ImageRecord read_image(sqlite3_stmt* s) {
  return {column_text(s, 0), column_text(s, 1), column_text(s, 2), column_text(s, 3), sqlite3_column_int64(s, 4)};
}
}  // namespace

void VmStore::insert_image(const ImageRecord& r) {
  auto s = prepare(db_, fmt::format("INSERT INTO images ({}) VALUES (?,?,?,?,?)", kImageColumns).c_str());
  bind_text(s.get(), 1, r.name);
  bind_text(s.get(), 2, r.dir);
  bind_text(s.get(), 3, r.config);
  bind_text(s.get(), 4, r.source);
  sqlite3_bind_int64(s.get(), 5, r.created_at ? r.created_at : static_cast<int64_t>(std::time(nullptr)));
  int rc = sqlite3_step(s.get());
  if (rc == SQLITE_CONSTRAINT) throw error("an image named {} already exists", r.name);
  if (rc != SQLITE_DONE) throw error("state database: {}", sqlite3_errmsg(db_));
}

std::optional<ImageRecord> VmStore::get_image(const std::string& name) {
  auto s = prepare(db_, fmt::format("SELECT {} FROM images WHERE name = ?", kImageColumns).c_str());
  bind_text(s.get(), 1, name);
  int rc = sqlite3_step(s.get());
  if (rc == SQLITE_ROW) return read_image(s.get());
  if (rc != SQLITE_DONE) throw error("state database: {}", sqlite3_errmsg(db_));
  return std::nullopt;
}

std::vector<ImageRecord> VmStore::list_images() {
  auto s = prepare(db_, fmt::format("SELECT {} FROM images ORDER BY name", kImageColumns).c_str());
  std::vector<ImageRecord> out;
  int rc;
  while ((rc = sqlite3_step(s.get())) == SQLITE_ROW) out.push_back(read_image(s.get()));
  if (rc != SQLITE_DONE) throw error("state database: {}", sqlite3_errmsg(db_));
  return out;
}

void VmStore::remove_image(const std::string& name) {
  auto s = prepare(db_, "DELETE FROM images WHERE name = ?");
  bind_text(s.get(), 1, name);
  step_done(db_, s.get());
}

}  // namespace insula::manager
