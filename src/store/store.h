// The distributed configuration store (DCS) interface every backend implements.
//
// Contract, for every implementation:
// - Each method is atomic. A compare that fails is an ordinary outcome (granted=false, false),
//   never an error; an error means the store could not be asked (kUnavailable) or holds data
//   that cannot be trusted (kInvalidArgument, naming the key). A write that got no answer may
//   still have been applied (a request waiting in a frozen server): callers never assume it
//   was not.
// - Revisions are opaque; a renewal always changes the leader record's revision, so an observer
//   can tell "renewed" from "unchanged".
// - The store does not judge lease expiry for the embedded backend: observers do (core/lease.h).
// - Methods may be called from any one thread at a time per instance.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "core/cluster_view.h"
#include "core/result.h"
#include "core/types.h"

namespace pgpilot {

struct LeaseRequest {
  std::string member;
  Duration ttl{0};
  Lsn lsn;              // the member's WAL position, published with the lease
  Timeline timeline = 0;
};

struct LeaseWrite {
  bool granted = false;
  std::optional<LeaderRecord> record;  // the record in the store after the call
};

class Store {
 public:
  virtual ~Store() = default;

  // A consistent snapshot of the cluster's keys; members whose entries expired are left out.
  virtual Result<ClusterView> Load() = 0;

  // Creates `initialize` if absent. True when this call created it.
  virtual Result<bool> ClaimInitialize(const std::string& member, const std::string& system_id) = 0;
  // Sets the system identifier of our incomplete claim. False when the claim is not ours.
  virtual Result<bool> CompleteInitialize(const std::string& member, const std::string& system_id) = 0;
  // Deletes our incomplete claim. False when there is no such claim.
  virtual Result<bool> AbandonInitialize(const std::string& member) = 0;

  // Takes the leader lease if it is absent (expected_revision = nullopt) or still at
  // `expected_revision`; the new term is the previous term plus one.
  virtual Result<LeaseWrite> AcquireLeader(const LeaseRequest& request,
                                           std::optional<uint64_t> expected_revision) = 0;
  // Extends the lease if `request.member` holds it under `term` and has not released it.
  virtual Result<LeaseWrite> RenewLeader(const LeaseRequest& request, uint64_t term) = 0;
  // Marks our lease released, recording our final position. False when it is not ours.
  virtual Result<bool> ReleaseLeader(const LeaseRequest& request, uint64_t term) = 0;

  // Publishes a member entry that expires after `ttl` unless published again.
  virtual Status PutMember(const MemberStatus& status, Duration ttl) = 0;
  virtual Status DeleteMember(const std::string& name) = 0;
  // Appends a timeline switch. The same promotion's entry again (same new leader and term) is
  // ignored; another one for a timeline already recorded is refused (kFailedPrecondition).
  virtual Status AppendHistory(const HistoryEntry& entry) = 0;

  // Writes the `sync` key if it is absent (expected_revision = nullopt) or still at
  // `expected_revision`. False when it was not: someone else changed it meanwhile.
  virtual Result<bool> WriteSync(const SyncRecord& record,
                                 std::optional<uint64_t> expected_revision) = 0;

  // Writes the `config` key if absent (expected_revision = nullopt) or still at
  // `expected_revision`. False when it was not.
  virtual Result<bool> WriteConfig(const DynamicConfig& config,
                                   std::optional<uint64_t> expected_revision) = 0;

  // Writes the `requests` key if absent (expected_revision = nullopt) or still at
  // `expected_revision`. False when it was not. Every write wakes the waiters.
  virtual Result<bool> WriteRequests(const RequestsRecord& record,
                                     std::optional<uint64_t> expected_revision) = 0;

  // Creates the `switchover` key if absent. False when a switchover is already pending.
  virtual Result<bool> RequestSwitchover(const SwitchoverRecord& record) = 0;
  // Deletes the `switchover` key (nothing to do when absent).
  virtual Status ClearSwitchover() = 0;

  // Blocks until a change that matters to the HA decision (leader holder or release,
  // initialize, members joining or leaving, a switchover requested or cleared, the config
  // or the requests changed) happened after
  // `since`, or `timeout` passed.
  // Returns the token to pass next time. Renewals and member refreshes do not wake it.
  virtual Result<uint64_t> WaitForChange(uint64_t since, Duration timeout) = 0;

  // From now on, calls give up (kUnavailable) by `deadline` at the latest, whatever their own
  // timeouts; nullopt lifts the bound. The HA loop passes its own lease deadline, so a store that
  // stops answering cannot keep a primary from fencing itself in time. A store that answers
  // locally (SQLite) may ignore it.
  virtual void SetCallDeadline(std::optional<MonoTime> deadline) { (void)deadline; }

  // Where this store lives, for messages ("sqlite:/tmp/x/store.db").
  virtual std::string Describe() const = 0;
};

}  // namespace pgpilot
