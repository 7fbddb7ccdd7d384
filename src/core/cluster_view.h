// An immutable snapshot of the store as read in one tick: initialize, leader lease, members, history.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/result.h"
#include "core/sync_mode.h"
#include "core/types.h"

namespace pgpilot {

// The `initialize` key. Created once by the member that wins the bootstrap race: first with an
// empty system_id (bootstrap in progress), then completed with the system identifier of the
// cluster its initdb created.
struct InitializeRecord {
  std::string claimed_by;
  std::string system_id;  // empty while the bootstrap runs

  bool complete() const { return !system_id.empty(); }
};

// The `leader` key: who holds the leader lease, under which term (fencing token), for how long.
// `revision` is the store's version of this record; every renewal changes it, so an observer that
// sees the same revision for a whole ttl knows the lease was not renewed in that time.
struct LeaderRecord {
  std::string holder;
  uint64_t term = 0;        // incremented on every acquisition
  Duration ttl{0};
  Lsn lsn;                  // the holder's WAL position at its last renewal or release
  Timeline timeline = 0;
  bool released = false;    // the holder gave it up cleanly; `lsn` is then its final position
  uint64_t revision = 0;    // store version; opaque except for equality

  friend bool operator==(const LeaderRecord&, const LeaderRecord&) = default;
};

// True when `record` names `member` as the holder under `term` and was not released: the only
// case in which that member may renew or release it.
inline bool HeldBy(const std::optional<LeaderRecord>& record, const std::string& member, uint64_t term) {
  return record && record->holder == member && record->term == term && !record->released;
}

struct MemberTags {
  bool nofailover = false;  // never promoted
  bool nosync = false;      // never chosen as a synchronous standby
  bool noloadbalance = false;  // /replica answers 503: load balancers leave it out
  bool clonefrom = false;   // new members clone from it (a replica) rather than from the leader
  friend bool operator==(const MemberTags&, const MemberTags&) = default;
};

// A member's published status (`members/NAME`); expires with the member.
struct MemberStatus {
  std::string name;
  std::string role;    // "primary", "replica", "stopped", "uninitialized"
  std::string state;   // NodeState name
  std::string reason;  // the last decision's reason
  std::string api_url;       // "http://127.0.0.1:8008"
  std::string host;          // PostgreSQL connect address
  int port = 0;
  Timeline timeline = 0;
  Lsn wal_position;    // primary: current write position; replica: max(received, replayed)
  Lsn replayed;
  bool streaming = false;  // replica: WAL receiver streaming from the leader
  std::string upstream;    // replica: the member it streams from
  uint64_t term = 0;       // the leader term this member last acted under
  MemberTags tags;
  bool pending_restart = false;  // a changed PostgreSQL parameter waits for a restart
  std::string commit_overrides;  // roles/databases with synchronous_commit=off or local
  std::string version;     // pgpilot version
  int64_t agent_pid = 0;
  int64_t postgres_pid = 0;
  WallTime updated;

  friend bool operator==(const MemberStatus&, const MemberStatus&) = default;
};

// One timeline switch, appended to `history` by the member that promoted.
struct HistoryEntry {
  Timeline timeline = 0;   // the new timeline
  Lsn switch_lsn;          // where the previous timeline ended
  Timeline parent = 0;     // the timeline it branched from (0: not recorded, read as timeline - 1)
  std::string old_leader;
  std::string new_leader;
  uint64_t term = 0;
  WallTime time;
  std::string reason;

  friend bool operator==(const HistoryEntry&, const HistoryEntry&) = default;
};

// The `sync` key (synchronous mode): the standbys whose confirmation the primary `leader` waits
// for on every commit. Every commit `leader` acknowledged is on each of `members`, so only they
// (and `leader` itself) may be promoted without losing one. Written with a compare-and-swap by
// the primary only, and before every promotion by the member about to promote.
struct SyncRecord {
  std::string leader;
  std::vector<std::string> members;  // sorted, unique
  uint64_t revision = 0;             // store version; opaque except for equality

  friend bool operator==(const SyncRecord&, const SyncRecord&) = default;
};

// The `switchover` key: a planned handover of the leader lease, requested by an operator
// (`pgpilot ctl switchover`) and carried out by the leader `from` once `not_before` has passed;
// or, with `from` empty, an operator's failover (`ctl failover`): no leader is left, and `to`
// is the member to promote.
struct SwitchoverRecord {
  std::string from;      // the leader the request was made to; empty for a failover
  std::string to;        // the member that takes over
  WallTime not_before;   // 0: at once
  WallTime requested;
  bool force = false;    // failover: even a lagging member, or one outside the sync set

  friend bool operator==(const SwitchoverRecord&, const SwitchoverRecord&) = default;
};

// The `config` key: cluster-wide settings changed at run time (`ctl edit-config`, `ctl pause`).
// Each one set here overrides the agents' own config file; unset ones leave it in force.
struct DynamicConfig {
  bool pause = false;  // maintenance: agents report but neither fail over, start nor stop
  std::optional<uint64_t> maximum_lag_on_failover;
  std::optional<SyncMode> synchronous_mode;
  std::optional<int> synchronous_node_count;
  std::vector<std::pair<std::string, std::string>> parameters;  // PostgreSQL, by name (sorted)
  std::optional<Duration> ttl;        // the leader lease's time to live
  std::optional<Duration> loop_wait;  // the HA loop's interval (at most half the ttl in force)
  uint64_t revision = 0;  // store version; opaque except for equality

  friend bool operator==(const DynamicConfig&, const DynamicConfig&) = default;
};

// What an operator asked one member's agent to do (`ctl restart`, `ctl reinit`).
enum class RequestKind { kRestart, kReinit };

// One such request. The member's agent removes it from the record (compare-and-swap) in the
// decision that carries it out, before acting: a request is done at most once, even if the agent
// dies halfway. A request that cannot be done stays, marked `refused` with the reason, for `ctl`
// to report; agents ignore it.
struct MemberRequest {
  std::string member;
  RequestKind kind = RequestKind::kRestart;
  bool only_if_pending = false;  // restart: only when a changed parameter waits for a restart
  WallTime requested;
  std::string refused;           // set by the agent: why it will not be done

  friend bool operator==(const MemberRequest&, const MemberRequest&) = default;
};

// The `requests` key: at most one pending request per member, sorted by member name. Written
// with a compare-and-swap by `ctl` (adding) and by each agent (removing its own).
struct RequestsRecord {
  std::vector<MemberRequest> requests;
  uint64_t revision = 0;  // store version; opaque except for equality

  const MemberRequest* For(const std::string& member) const;
  // Adds `request`, replacing an older one of the same member; keeps the order by member.
  void Put(MemberRequest request);
  friend bool operator==(const RequestsRecord&, const RequestsRecord&) = default;
};

// Whether `entry` may be appended to `history`: true to append it, false when the same promotion
// recorded it already (same new leader and term: a retry), and an error when its timeline number
// was taken by another promotion. A member that decided on a stale view (frozen between reading
// the store and acting) must then not promote onto that number.
Result<bool> HistoryAppendable(const std::vector<HistoryEntry>& history, const HistoryEntry& entry);

struct ClusterView {
  std::optional<InitializeRecord> initialize;
  std::optional<LeaderRecord> leader;
  std::vector<MemberStatus> members;  // unexpired entries, sorted by name
  std::vector<HistoryEntry> history;  // oldest first
  std::optional<SyncRecord> sync;
  std::optional<SwitchoverRecord> switchover;
  std::optional<DynamicConfig> config;
  std::optional<RequestsRecord> requests;

  const MemberStatus* FindMember(const std::string& name) const;
};

}  // namespace pgpilot
