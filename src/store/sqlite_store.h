// The embedded store: one SQLite file shared by the agents of a cluster on one machine.
// Transactions give compare-and-swap; lease expiry is judged by observers (core/lease.h).
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "platform/clock.h"
#include "store/store.h"

struct sqlite3;

namespace pgpilot {

class SqliteStore final : public Store {
 public:
  // Opens (creating if needed) the store file. `clock` judges member-entry expiry (wall time:
  // members are informational; the lease never depends on it).
  static Result<std::unique_ptr<SqliteStore>> Open(const std::string& path,
                                                   const std::string& cluster, const Clock& clock);
  ~SqliteStore() override;

  Result<ClusterView> Load() override;
  Result<bool> ClaimInitialize(const std::string& member, const std::string& system_id) override;
  Result<bool> CompleteInitialize(const std::string& member, const std::string& system_id) override;
  Result<bool> AbandonInitialize(const std::string& member) override;
  Result<LeaseWrite> AcquireLeader(const LeaseRequest& request,
                                   std::optional<uint64_t> expected_revision) override;
  Result<LeaseWrite> RenewLeader(const LeaseRequest& request, uint64_t term) override;
  Result<bool> ReleaseLeader(const LeaseRequest& request, uint64_t term) override;
  Status PutMember(const MemberStatus& status, Duration ttl) override;
  Status DeleteMember(const std::string& name) override;
  Status AppendHistory(const HistoryEntry& entry) override;
  Result<bool> WriteSync(const SyncRecord& record, std::optional<uint64_t> expected_revision) override;
  Result<bool> WriteConfig(const DynamicConfig& config, std::optional<uint64_t> expected_revision) override;
  Result<bool> WriteRequests(const RequestsRecord& record,
                             std::optional<uint64_t> expected_revision) override;
  Result<bool> RequestSwitchover(const SwitchoverRecord& record) override;
  Status ClearSwitchover() override;
  Result<uint64_t> WaitForChange(uint64_t since, Duration timeout) override;
  std::string Describe() const override { return "sqlite:" + path_; }

 private:
  class Txn;
  struct Row {
    std::string value;
    uint64_t revision = 0;
    int64_t expires_ms = 0;  // 0: never
  };

  SqliteStore(sqlite3* db, std::string path, std::string cluster, const Clock& clock);
  Error SqlError(const std::string& what) const;
  Status Exec(const std::string& sql);
  Result<std::optional<Row>> Get(const std::string& key);
  // Writes `key` with a new revision; returns it.
  Result<uint64_t> Put(const std::string& key, const std::string& value, int64_t expires_ms);
  Status Delete(const std::string& key);
  Result<uint64_t> Counter(const char* name);
  Status BumpEvents();
  // Puts one key of our cluster if it is absent (nullopt) or still at `expected_revision`;
  // `wakes`: the change wakes WaitForChange.
  Result<bool> CompareAndPut(std::string_view name, const std::string& value,
                             std::optional<uint64_t> expected_revision, bool wakes);
  Result<std::optional<LeaderRecord>> GetLeader();
  Result<LeaseWrite> WriteLeader(const LeaderRecord& record, bool holder_changed);

  sqlite3* db_;
  std::string path_;
  std::string cluster_;
  const Clock& clock_;
  std::mutex mu_;  // one statement sequence at a time on this connection
};

}  // namespace pgpilot
