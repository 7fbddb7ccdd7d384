// The simulator's store: the Store contract (store/store.h) held in memory, with time supplied by
// the simulation. It answers at once; latency, lost requests and outages are the network's job
// (sim_world.h). Two expiry modes: observers judge the lease (SQLite, Kubernetes), or the store
// deletes the leader key itself ttl after the last write (etcd's leases).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>

#include "store/store.h"

namespace pgpilot::sim {

class SimStore final : public Store {
 public:
  // `now_ms`: the store's own clock, in milliseconds.
  SimStore(std::function<int64_t()> now_ms, bool server_side_expiry)
      : now_ms_(std::move(now_ms)), server_side_expiry_(server_side_expiry) {}

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
  // Never blocks: the token changes with the leader's holder or release, initialize, the
  // member set, a switchover, the config or the requests; the simulated agent compares tokens.
  Result<uint64_t> WaitForChange(uint64_t since, Duration timeout) override;
  std::string Describe() const override { return "simulated store"; }

  // For the invariant checker: the leader record as the store holds it now.
  std::optional<LeaderRecord> Leader();
  const std::optional<InitializeRecord>& initialize() const { return initialize_; }
  const std::optional<SyncRecord>& sync() const { return sync_; }
  uint64_t change_token() { Expire(); return change_token_; }

 private:
  struct Member { MemberStatus status; int64_t expires_ms; };
  void Expire();
  Result<LeaseWrite> WriteLeader(LeaderRecord record, bool holder_changed);
  // Sets `slot` to `record` under a new revision if it is absent (nullopt) or still at
  // `expected_revision`; `wakes`: the change moves the change token.
  template <typename Record>
  bool CompareAndPut(std::optional<Record>& slot, const Record& record,
                     std::optional<uint64_t> expected_revision, bool wakes);

  std::function<int64_t()> now_ms_;
  bool server_side_expiry_;
  std::optional<InitializeRecord> initialize_;
  std::optional<LeaderRecord> leader_;
  int64_t leader_expires_ms_ = 0;  // server-side expiry only
  std::map<std::string, Member> members_;
  std::vector<HistoryEntry> history_;
  std::optional<SyncRecord> sync_;
  std::optional<SwitchoverRecord> switchover_;
  std::optional<DynamicConfig> config_;
  std::optional<RequestsRecord> requests_;
  uint64_t revision_ = 0;
  uint64_t last_term_ = 0;  // the highest term ever granted
  uint64_t change_token_ = 1;
};

}  // namespace pgpilot::sim
