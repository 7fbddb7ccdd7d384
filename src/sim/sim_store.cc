#include "sim/sim_store.h"

namespace pgpilot::sim {

void SimStore::Expire() {
  int64_t now = now_ms_();
  if (server_side_expiry_ && leader_ && now >= leader_expires_ms_) {
    leader_.reset();
    ++change_token_;
  }
  for (auto it = members_.begin(); it != members_.end();) {
    if (now >= it->second.expires_ms) {
      it = members_.erase(it);
      ++change_token_;
    } else {
      ++it;
    }
  }
}

std::optional<LeaderRecord> SimStore::Leader() {
  Expire();
  return leader_;
}

Result<ClusterView> SimStore::Load() {
  Expire();
  ClusterView v;
  v.initialize = initialize_;
  v.leader = leader_;
  for (const auto& [name, m] : members_) v.members.push_back(m.status);
  v.history = history_;
  v.sync = sync_;
  v.switchover = switchover_;
  v.config = config_;
  v.requests = requests_;
  return v;
}

Result<bool> SimStore::ClaimInitialize(const std::string& member, const std::string& system_id) {
  if (initialize_) return false;
  initialize_ = InitializeRecord{member, system_id};
  ++change_token_;
  return true;
}

Result<bool> SimStore::CompleteInitialize(const std::string& member, const std::string& system_id) {
  if (!initialize_ || initialize_->claimed_by != member || initialize_->complete()) return false;
  initialize_->system_id = system_id;
  ++change_token_;
  return true;
}

Result<bool> SimStore::AbandonInitialize(const std::string& member) {
  if (!initialize_ || initialize_->claimed_by != member || initialize_->complete()) return false;
  initialize_.reset();
  ++change_token_;
  return true;
}

Result<LeaseWrite> SimStore::WriteLeader(LeaderRecord record, bool holder_changed) {
  record.revision = ++revision_;
  leader_ = record;
  leader_expires_ms_ = now_ms_() + record.ttl.count();
  if (holder_changed) ++change_token_;
  return LeaseWrite{true, leader_};
}

Result<LeaseWrite> SimStore::AcquireLeader(const LeaseRequest& req,
                                           std::optional<uint64_t> expected_revision) {
  Expire();
  bool matches = expected_revision ? (leader_ && leader_->revision == *expected_revision) : !leader_;
  if (!matches) return LeaseWrite{false, leader_};
  // Terms keep counting across a server-side expiry (etcd keeps a separate term key).
  uint64_t term = std::max(leader_ ? leader_->term : 0, last_term_) + 1;
  last_term_ = term;
  return WriteLeader(LeaderRecord{req.member, term, req.ttl, req.lsn, req.timeline, false, 0}, true);
}

Result<LeaseWrite> SimStore::RenewLeader(const LeaseRequest& req, uint64_t term) {
  Expire();
  if (!HeldBy(leader_, req.member, term)) return LeaseWrite{false, leader_};
  return WriteLeader(LeaderRecord{req.member, term, req.ttl, req.lsn, req.timeline, false, 0}, false);
}

Result<bool> SimStore::ReleaseLeader(const LeaseRequest& req, uint64_t term) {
  Expire();
  if (!HeldBy(leader_, req.member, term)) return false;
  (void)WriteLeader(LeaderRecord{req.member, term, req.ttl, req.lsn, req.timeline, true, 0}, true);
  return true;
}

Status SimStore::PutMember(const MemberStatus& status, Duration ttl) {
  Expire();
  if (members_.find(status.name) == members_.end()) ++change_token_;
  members_[status.name] = Member{status, now_ms_() + ttl.count()};
  return Status::Ok();
}

Status SimStore::DeleteMember(const std::string& name) {
  if (members_.erase(name) > 0) ++change_token_;
  return Status::Ok();
}

Status SimStore::AppendHistory(const HistoryEntry& entry) {
  auto appendable = HistoryAppendable(history_, entry);
  if (!appendable.ok()) return appendable.error();
  if (!*appendable) return Status::Ok();
  history_.push_back(entry);
  return Status::Ok();
}

template <typename Record>
bool SimStore::CompareAndPut(std::optional<Record>& slot, const Record& record,
                             std::optional<uint64_t> expected_revision, bool wakes) {
  bool matches = expected_revision ? (slot && slot->revision == *expected_revision) : !slot;
  if (!matches) return false;
  slot = record;
  slot->revision = ++revision_;
  if (wakes) ++change_token_;
  return true;
}

Result<bool> SimStore::WriteSync(const SyncRecord& record,
                                 std::optional<uint64_t> expected_revision) {
  return CompareAndPut(sync_, record, expected_revision, /*wakes=*/false);
}

Result<bool> SimStore::WriteConfig(const DynamicConfig& config,
                                   std::optional<uint64_t> expected_revision) {
  return CompareAndPut(config_, config, expected_revision, /*wakes=*/true);
}

Result<bool> SimStore::WriteRequests(const RequestsRecord& record,
                                     std::optional<uint64_t> expected_revision) {
  return CompareAndPut(requests_, record, expected_revision, /*wakes=*/true);
}

Result<bool> SimStore::RequestSwitchover(const SwitchoverRecord& record) {
  if (switchover_) return false;
  switchover_ = record;
  ++change_token_;
  return true;
}

Status SimStore::ClearSwitchover() {
  if (switchover_) ++change_token_;
  switchover_.reset();
  return Status::Ok();
}

Result<uint64_t> SimStore::WaitForChange(uint64_t since, Duration timeout) {
  Expire();
  return change_token_;
}

}  // namespace pgpilot::sim
