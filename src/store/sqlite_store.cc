#include "store/sqlite_store.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <thread>

#include "store/codec.h"
#include "store/keys.h"

namespace pgpilot {
namespace {

constexpr int kBusyTimeoutMs = 500;

// A prepared statement that finalizes itself.
class Stmt {
 public:
  Stmt(sqlite3* db, const char* sql) { rc_ = sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr); }
  ~Stmt() { sqlite3_finalize(stmt_); }
  bool ok() const { return rc_ == SQLITE_OK; }
  void Bind(int i, const std::string& s) { sqlite3_bind_text(stmt_, i, s.c_str(), -1, SQLITE_TRANSIENT); }
  void Bind(int i, int64_t v) { sqlite3_bind_int64(stmt_, i, v); }
  int Step() { return sqlite3_step(stmt_); }
  std::string Text(int col) {
    const unsigned char* t = sqlite3_column_text(stmt_, col);
    return t ? reinterpret_cast<const char*>(t) : "";
  }
  int64_t Int(int col) { return sqlite3_column_int64(stmt_, col); }

 private:
  sqlite3_stmt* stmt_ = nullptr;
  int rc_;
};

}  // namespace

// BEGIN IMMEDIATE ... COMMIT, rolled back unless committed.
class SqliteStore::Txn {
 public:
  explicit Txn(SqliteStore* s) : s_(s) { status_ = s_->Exec("BEGIN IMMEDIATE"); }
  ~Txn() {
    if (status_.ok() && !done_) (void)s_->Exec("ROLLBACK");
  }
  const Status& begun() const { return status_; }
  Status Commit() {
    done_ = true;
    Status st = s_->Exec("COMMIT");
    if (!st.ok()) (void)s_->Exec("ROLLBACK");
    return st;
  }

 private:
  SqliteStore* s_;
  Status status_;
  bool done_ = false;
};

Result<std::unique_ptr<SqliteStore>> SqliteStore::Open(const std::string& path,
                                                       const std::string& cluster,
                                                       const Clock& clock) {
  // A new file is created 0600 here, not by SQLite (0644 less the umask): the store is read and
  // written only by the agents and ctl, as their user. SQLite gives its -wal and -shm files the
  // mode of the database file.
  if (path != ":memory:") {
    int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd >= 0) close(fd);
  }
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &db,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                           nullptr);
  if (rc != SQLITE_OK) {
    std::string err = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close(db);
    return Unavailable("cannot open the store file " + path + ": " + err,
                       "check that the directory exists and the agent's user may write it");
  }
  sqlite3_busy_timeout(db, kBusyTimeoutMs);
  std::unique_ptr<SqliteStore> store(new SqliteStore(db, path, cluster, clock));
  for (const char* sql : {
           "PRAGMA journal_mode=WAL",
           "PRAGMA synchronous=FULL",
           "CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value TEXT NOT NULL, "
           "revision INTEGER NOT NULL, expires_ms INTEGER NOT NULL DEFAULT 0)",
           "CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL)",
       }) {
    // Agents starting together on a new file race to switch it to WAL and create the tables;
    // the losers see "locked" (or a transient I/O error) and simply try again.
    Status st = store->Exec(sql);
    for (int attempt = 0; !st.ok() && st.error().code == ErrorCode::kUnavailable && attempt < 100;
         ++attempt) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      st = store->Exec(sql);
    }
    if (!st.ok()) {
      return Error{st.error().code, "cannot prepare the store file " + path + ": " + st.error().message,
                   "the file may not be a pgpilot store; point the agent at a new file"};
    }
  }
  return store;
}

SqliteStore::SqliteStore(sqlite3* db, std::string path, std::string cluster, const Clock& clock)
    : db_(db), path_(std::move(path)), cluster_(std::move(cluster)), clock_(clock) {}

SqliteStore::~SqliteStore() { sqlite3_close_v2(db_); }

Error SqliteStore::SqlError(const std::string& what) const {
  int code = sqlite3_errcode(db_);
  std::string msg = "store " + path_ + ": " + what + ": " + sqlite3_errmsg(db_);
  if (code == SQLITE_BUSY || code == SQLITE_LOCKED || code == SQLITE_IOERR ||
      code == SQLITE_CANTOPEN || code == SQLITE_FULL) {
    return Unavailable(msg);
  }
  return Internal(msg);
}

Status SqliteStore::Exec(const std::string& sql) {
  char* err = nullptr;
  int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err);
  if (rc != SQLITE_OK) {
    std::string msg = err ? err : sqlite3_errstr(rc);
    sqlite3_free(err);
    Error e = SqlError(sql);
    e.message = "store " + path_ + ": " + sql + ": " + msg;
    return e;
  }
  return Status::Ok();
}

Result<std::optional<SqliteStore::Row>> SqliteStore::Get(const std::string& key) {
  Stmt st(db_, "SELECT value, revision, expires_ms FROM kv WHERE key = ?1");
  if (!st.ok()) return SqlError("prepare get");
  st.Bind(1, key);
  int rc = st.Step();
  if (rc == SQLITE_DONE) return std::optional<Row>();
  if (rc != SQLITE_ROW) return SqlError("get " + key);
  return std::optional<Row>(Row{st.Text(0), static_cast<uint64_t>(st.Int(1)), st.Int(2)});
}

Result<uint64_t> SqliteStore::Counter(const char* name) {
  Stmt st(db_, "SELECT value FROM counters WHERE name = ?1");
  if (!st.ok()) return SqlError("prepare counter");
  st.Bind(1, std::string(name));
  int rc = st.Step();
  if (rc == SQLITE_DONE) return uint64_t{0};
  if (rc != SQLITE_ROW) return SqlError("read counter");
  return static_cast<uint64_t>(st.Int(0));
}

Result<uint64_t> SqliteStore::Put(const std::string& key, const std::string& value,
                                  int64_t expires_ms) {
  auto rev = Counter("revision");
  if (!rev.ok()) return rev.error();
  uint64_t next = *rev + 1;
  {
    Stmt st(db_, "INSERT INTO counters(name, value) VALUES('revision', ?1) "
                 "ON CONFLICT(name) DO UPDATE SET value = excluded.value");
    st.Bind(1, static_cast<int64_t>(next));
    if (!st.ok() || st.Step() != SQLITE_DONE) return SqlError("bump revision");
  }
  Stmt st(db_, "INSERT INTO kv(key, value, revision, expires_ms) VALUES(?1, ?2, ?3, ?4) "
               "ON CONFLICT(key) DO UPDATE SET value = excluded.value, "
               "revision = excluded.revision, expires_ms = excluded.expires_ms");
  if (!st.ok()) return SqlError("prepare put");
  st.Bind(1, key);
  st.Bind(2, value);
  st.Bind(3, static_cast<int64_t>(next));
  st.Bind(4, expires_ms);
  if (st.Step() != SQLITE_DONE) return SqlError("put " + key);
  return next;
}

Status SqliteStore::Delete(const std::string& key) {
  Stmt st(db_, "DELETE FROM kv WHERE key = ?1");
  if (!st.ok()) return SqlError("prepare delete");
  st.Bind(1, key);
  if (st.Step() != SQLITE_DONE) return SqlError("delete " + key);
  return Status::Ok();
}

Status SqliteStore::BumpEvents() {
  Stmt st(db_, "INSERT INTO counters(name, value) VALUES('events', 1) "
               "ON CONFLICT(name) DO UPDATE SET value = value + 1");
  if (!st.ok() || st.Step() != SQLITE_DONE) return SqlError("bump events");
  return Status::Ok();
}

Result<ClusterView> SqliteStore::Load() {
  std::lock_guard<std::mutex> lock(mu_);
  std::string scope = keys::Scope(cluster_);
  Stmt st(db_, "SELECT key, value, revision, expires_ms FROM kv WHERE substr(key, 1, ?2) = ?1");
  if (!st.ok()) return SqlError("prepare load");
  st.Bind(1, scope);
  st.Bind(2, static_cast<int64_t>(scope.size()));
  ClusterView view;
  int64_t now_ms = clock_.WallNow().unix_ms;
  const std::string members_prefix = scope + std::string(keys::kMembers);
  while (true) {
    int rc = st.Step();
    if (rc == SQLITE_DONE) break;
    if (rc != SQLITE_ROW) return SqlError("load");
    std::string key = st.Text(0);
    std::string value = st.Text(1);
    uint64_t revision = static_cast<uint64_t>(st.Int(2));
    int64_t expires = st.Int(3);
    std::string name = key.substr(scope.size());
    if (name == keys::kInitialize) {
      auto r = DecodeInitialize(key, value);
      if (!r.ok()) return r.error();
      view.initialize = *r;
    } else if (name == keys::kLeader) {
      auto r = DecodeLeader(key, value);
      if (!r.ok()) return r.error();
      view.leader = *r;
      view.leader->revision = revision;
    } else if (name == keys::kHistory) {
      auto r = DecodeHistory(key, value);
      if (!r.ok()) return r.error();
      view.history = *r;
    } else if (name == keys::kConfig) {
      auto r = DecodeConfig(key, value);
      if (!r.ok()) return r.error();
      view.config = *r;
      view.config->revision = revision;
    } else if (name == keys::kRequests) {
      auto r = DecodeRequests(key, value);
      if (!r.ok()) return r.error();
      view.requests = *r;
      view.requests->revision = revision;
    } else if (name == keys::kSwitchover) {
      auto r = DecodeSwitchover(key, value);
      if (!r.ok()) return r.error();
      view.switchover = *r;
    } else if (name == keys::kSync) {
      auto r = DecodeSync(key, value);
      if (!r.ok()) return r.error();
      view.sync = *r;
      view.sync->revision = revision;
    } else if (key.rfind(members_prefix, 0) == 0) {
      if (expires != 0 && expires <= now_ms) continue;
      auto r = DecodeMember(key, value);
      if (!r.ok()) return r.error();
      view.members.push_back(*r);
    }
  }
  std::sort(view.members.begin(), view.members.end(),
            [](const MemberStatus& a, const MemberStatus& b) { return a.name < b.name; });
  return view;
}

Result<bool> SqliteStore::ClaimInitialize(const std::string& member, const std::string& system_id) {
  std::lock_guard<std::mutex> lock(mu_);
  Txn txn(this);
  if (!txn.begun().ok()) return txn.begun().error();
  std::string key = keys::Key(cluster_, keys::kInitialize);
  auto row = Get(key);
  if (!row.ok()) return row.error();
  if (row->has_value()) return false;
  auto put = Put(key, EncodeInitialize({member, system_id}), 0);
  if (!put.ok()) return put.error();
  if (Status s = BumpEvents(); !s.ok()) return s.error();
  if (Status s = txn.Commit(); !s.ok()) return s.error();
  return true;
}

Result<bool> SqliteStore::CompleteInitialize(const std::string& member, const std::string& system_id) {
  std::lock_guard<std::mutex> lock(mu_);
  Txn txn(this);
  if (!txn.begun().ok()) return txn.begun().error();
  std::string key = keys::Key(cluster_, keys::kInitialize);
  auto row = Get(key);
  if (!row.ok()) return row.error();
  if (!row->has_value()) return false;
  auto current = DecodeInitialize(key, (*row)->value);
  if (!current.ok()) return current.error();
  if (current->claimed_by != member || current->complete()) return false;
  auto put = Put(key, EncodeInitialize({member, system_id}), 0);
  if (!put.ok()) return put.error();
  if (Status s = BumpEvents(); !s.ok()) return s.error();
  if (Status s = txn.Commit(); !s.ok()) return s.error();
  return true;
}

Result<bool> SqliteStore::AbandonInitialize(const std::string& member) {
  std::lock_guard<std::mutex> lock(mu_);
  Txn txn(this);
  if (!txn.begun().ok()) return txn.begun().error();
  std::string key = keys::Key(cluster_, keys::kInitialize);
  auto row = Get(key);
  if (!row.ok()) return row.error();
  if (!row->has_value()) return false;
  auto current = DecodeInitialize(key, (*row)->value);
  if (!current.ok()) return current.error();
  if (current->claimed_by != member || current->complete()) return false;
  if (Status s = Delete(key); !s.ok()) return s.error();
  if (Status s = BumpEvents(); !s.ok()) return s.error();
  if (Status s = txn.Commit(); !s.ok()) return s.error();
  return true;
}

Result<std::optional<LeaderRecord>> SqliteStore::GetLeader() {
  std::string key = keys::Key(cluster_, keys::kLeader);
  auto row = Get(key);
  if (!row.ok()) return row.error();
  if (!row->has_value()) return std::optional<LeaderRecord>();
  auto rec = DecodeLeader(key, (*row)->value);
  if (!rec.ok()) return rec.error();
  rec->revision = (*row)->revision;
  return std::optional<LeaderRecord>(*rec);
}

Result<LeaseWrite> SqliteStore::WriteLeader(const LeaderRecord& record, bool holder_changed) {
  auto rev = Put(keys::Key(cluster_, keys::kLeader), EncodeLeader(record), 0);
  if (!rev.ok()) return rev.error();
  if (holder_changed) {
    if (Status s = BumpEvents(); !s.ok()) return s.error();
  }
  LeaderRecord written = record;
  written.revision = *rev;
  return LeaseWrite{true, written};
}

Result<LeaseWrite> SqliteStore::AcquireLeader(const LeaseRequest& req,
                                              std::optional<uint64_t> expected_revision) {
  std::lock_guard<std::mutex> lock(mu_);
  Txn txn(this);
  if (!txn.begun().ok()) return txn.begun().error();
  auto current = GetLeader();
  if (!current.ok()) return current.error();
  bool matches = expected_revision ? (current->has_value() && (*current)->revision == *expected_revision)
                                   : !current->has_value();
  if (!matches) return LeaseWrite{false, *current};
  LeaderRecord next{req.member, current->has_value() ? (*current)->term + 1 : 1, req.ttl,
                    req.lsn, req.timeline, false, 0};
  auto written = WriteLeader(next, true);
  if (!written.ok()) return written.error();
  if (Status s = txn.Commit(); !s.ok()) return s.error();
  return written;
}

Result<LeaseWrite> SqliteStore::RenewLeader(const LeaseRequest& req, uint64_t term) {
  std::lock_guard<std::mutex> lock(mu_);
  Txn txn(this);
  if (!txn.begun().ok()) return txn.begun().error();
  auto current = GetLeader();
  if (!current.ok()) return current.error();
  if (!HeldBy(*current, req.member, term)) return LeaseWrite{false, *current};
  LeaderRecord next{req.member, term, req.ttl, req.lsn, req.timeline, false, 0};
  auto written = WriteLeader(next, false);
  if (!written.ok()) return written.error();
  if (Status s = txn.Commit(); !s.ok()) return s.error();
  return written;
}

Result<bool> SqliteStore::ReleaseLeader(const LeaseRequest& req, uint64_t term) {
  std::lock_guard<std::mutex> lock(mu_);
  Txn txn(this);
  if (!txn.begun().ok()) return txn.begun().error();
  auto current = GetLeader();
  if (!current.ok()) return current.error();
  if (!HeldBy(*current, req.member, term)) return false;
  LeaderRecord next{req.member, term, req.ttl, req.lsn, req.timeline, true, 0};
  auto written = WriteLeader(next, true);
  if (!written.ok()) return written.error();
  if (Status s = txn.Commit(); !s.ok()) return s.error();
  return true;
}

Status SqliteStore::PutMember(const MemberStatus& status, Duration ttl) {
  std::lock_guard<std::mutex> lock(mu_);
  Txn txn(this);
  if (!txn.begun().ok()) return txn.begun();
  std::string key = keys::MemberKey(cluster_, status.name);
  auto row = Get(key);
  if (!row.ok()) return row.error();
  int64_t now_ms = clock_.WallNow().unix_ms;
  bool joining = !row->has_value() || ((*row)->expires_ms != 0 && (*row)->expires_ms <= now_ms);
  auto put = Put(key, EncodeMember(status), now_ms + ttl.count());
  if (!put.ok()) return put.error();
  if (joining) {
    if (Status s = BumpEvents(); !s.ok()) return s;
  }
  return txn.Commit();
}

Status SqliteStore::DeleteMember(const std::string& name) {
  std::lock_guard<std::mutex> lock(mu_);
  Txn txn(this);
  if (!txn.begun().ok()) return txn.begun();
  if (Status s = Delete(keys::MemberKey(cluster_, name)); !s.ok()) return s;
  if (Status s = BumpEvents(); !s.ok()) return s;
  return txn.Commit();
}

Status SqliteStore::AppendHistory(const HistoryEntry& entry) {
  std::lock_guard<std::mutex> lock(mu_);
  Txn txn(this);
  if (!txn.begun().ok()) return txn.begun();
  std::string key = keys::Key(cluster_, keys::kHistory);
  auto row = Get(key);
  if (!row.ok()) return row.error();
  std::vector<HistoryEntry> history;
  if (row->has_value()) {
    auto decoded = DecodeHistory(key, (*row)->value);
    if (!decoded.ok()) return decoded.error();
    history = *decoded;
  }
  auto appendable = HistoryAppendable(history, entry);
  if (!appendable.ok()) return appendable.error();
  if (!*appendable) return Status::Ok();
  history.push_back(entry);
  auto put = Put(key, EncodeHistory(history), 0);
  if (!put.ok()) return put.error();
  return txn.Commit();
}

// A compare-and-swap of one key on its revision (absent: expected_revision = nullopt).
Result<bool> SqliteStore::CompareAndPut(std::string_view name, const std::string& value,
                                        std::optional<uint64_t> expected_revision, bool wakes) {
  std::lock_guard<std::mutex> lock(mu_);
  Txn txn(this);
  if (!txn.begun().ok()) return txn.begun().error();
  std::string key = keys::Key(cluster_, name);
  auto row = Get(key);
  if (!row.ok()) return row.error();
  bool matches = expected_revision ? (row->has_value() && (*row)->revision == *expected_revision)
                                   : !row->has_value();
  if (!matches) return false;
  auto put = Put(key, value, 0);
  if (!put.ok()) return put.error();
  if (wakes) {
    if (Status s = BumpEvents(); !s.ok()) return s.error();
  }
  if (Status s = txn.Commit(); !s.ok()) return s.error();
  return true;
}

Result<bool> SqliteStore::WriteSync(const SyncRecord& record,
                                    std::optional<uint64_t> expected_revision) {
  return CompareAndPut(keys::kSync, EncodeSync(record), expected_revision, /*wakes=*/false);
}

Result<bool> SqliteStore::WriteConfig(const DynamicConfig& config,
                                      std::optional<uint64_t> expected_revision) {
  return CompareAndPut(keys::kConfig, EncodeConfig(config), expected_revision, /*wakes=*/true);
}

Result<bool> SqliteStore::WriteRequests(const RequestsRecord& record,
                                        std::optional<uint64_t> expected_revision) {
  return CompareAndPut(keys::kRequests, EncodeRequests(record), expected_revision, /*wakes=*/true);
}

Result<bool> SqliteStore::RequestSwitchover(const SwitchoverRecord& record) {
  return CompareAndPut(keys::kSwitchover, EncodeSwitchover(record), std::nullopt, /*wakes=*/true);
}

Status SqliteStore::ClearSwitchover() {
  std::lock_guard<std::mutex> lock(mu_);
  Txn txn(this);
  if (!txn.begun().ok()) return txn.begun();
  std::string key = keys::Key(cluster_, keys::kSwitchover);
  auto row = Get(key);
  if (!row.ok()) return row.error();
  if (!row->has_value()) return Status::Ok();
  if (Status s = Delete(key); !s.ok()) return s;
  if (Status s = BumpEvents(); !s.ok()) return s;
  return txn.Commit();
}

Result<uint64_t> SqliteStore::WaitForChange(uint64_t since, Duration timeout) {
  auto deadline = clock_.Now() + timeout;
  while (true) {
    Result<uint64_t> events = uint64_t{0};
    {
      std::lock_guard<std::mutex> lock(mu_);
      events = Counter("events");
    }
    if (!events.ok()) return events.error();
    if (*events != since) return *events;
    MonoTime now = clock_.Now();
    if (now >= deadline) return *events;
    std::this_thread::sleep_for(std::min<Duration>(deadline - now, Duration(50)));
  }
}

}  // namespace pgpilot
