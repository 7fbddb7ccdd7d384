// The HA decision: one pure function from what the agent observed to what it does next.
// No I/O, no clock reads, no threads, no exceptions; `now` arrives in the observation.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/action.h"
#include "core/candidates.h"
#include "core/cluster_view.h"
#include "core/lease.h"
#include "core/local_state.h"
#include "core/node_state.h"
#include "core/result.h"
#include "core/sync_standbys.h"
#include "core/types.h"

namespace pgpilot {

// The parts of the agent's configuration the decision reads.
struct HaSettings {
  std::string member_name;
  Duration ttl{10000};
  Duration loop_wait{1000};
  uint64_t maximum_lag_on_failover = 1024 * 1024;
  MemberTags tags;
  SyncMode synchronous_mode = SyncMode::kOff;
  int synchronous_node_count = 1;  // standbys every commit waits for, when available
  bool paused = false;             // maintenance (only ever set by the store's config)
  bool commit_fence = false;       // the primary's commits also wait for the agent's commit fence
};

// The agent's own settings with the cluster-wide ones of the store's `config` key over them.
HaSettings WithDynamicConfig(HaSettings settings, const std::optional<DynamicConfig>& config);

// What the agent carries from one tick to the next. Decide returns the next value; nothing else
// changes it except the lease outcome the executor reports (ApplyLeaseOutcome).
struct AgentMemory {
  NodeState state = NodeState::kInit;
  LeaderSighting leader;               // the leader record as we first saw it, and when
  std::optional<OwnLease> lease;       // our own lease, while we hold one
  uint64_t task_sequence_seen = 0;     // background task results already acted on
  MonoTime retry_after;                // no new background task before this
  bool needs_rewind = false;           // our timeline diverged from the leader's
  uint64_t rewind_term = 0;            // the leader term our last rewind was started for
  uint64_t rewound_term = 0;           // ... and the term of the last one that succeeded
  bool bootstrap_done = false;         // our bootstrap task succeeded in this process
  std::string blocked;                 // a sticky reason that needs an operator (or a restart)
  std::string previous_leader;         // set when we start a promotion, for the history entry
  std::string promotion_reason;
  SyncJoin sync_join;                  // primary, synchronous mode: the standby being added
  MonoTime handover_since;             // when we decided to hand the lease over (switchover);
                                       // unset: no handover of ours is under way
  uint64_t clean_follow_term = 0;      // the leader term we last followed without pg_rewind
  std::optional<DynamicConfig> config; // the store's `config` key as last read (kept while the
                                       // store is unreachable)

  friend bool operator==(const AgentMemory&, const AgentMemory&) = default;
};

// Another member's position, as its API reported it this tick.
using PeerReport = Candidate;

struct Observation {
  HaSettings settings;
  Result<ClusterView> view = Unavailable("not loaded");  // error: the store could not be asked
  LocalState local;
  bool peers_collected = false;
  std::vector<PeerReport> peers;       // every other member in the view, when collected
  AgentMemory memory;
  MonoTime now;
  WallTime wall_now;
};

struct Decision {
  NodeState next = NodeState::kInit;
  AgentMemory memory;
  std::vector<Action> actions;
  std::string reason;
  // Set with no actions when the decision needs the other members' WAL positions: the loop asks
  // their APIs and calls Decide again with peers_collected.
  bool needs_peer_positions = false;
};

Decision Decide(const Observation& observation);

// The executor's report on a lease write: granted with the record written, or refused.
struct LeaseOutcome {
  bool granted = false;
  LeaderRecord record;  // the record now in the store (ours when granted)
  MonoTime sent_at;     // when the write was sent
};
AgentMemory ApplyLeaseOutcome(AgentMemory memory, const LeaseOutcome& outcome);
// The lease a granted write gives us (its deadlines count from when the write was sent).
OwnLease LeaseGranted(const LeaseOutcome& granted);

// What the fence watchdog must be told after a tick: armed to our lease's deadline while we hold
// one; disarmed only once PostgreSQL is known not to accept writes; otherwise left alone, so the
// deadline it already has still fires.
struct WatchdogOrder {
  enum Kind { kArm, kDisarm, kKeep } kind = kKeep;
  MonoTime deadline;  // for kArm
};
WatchdogOrder WatchdogAfterTick(const AgentMemory& memory, bool stopped_postgres,
                                const LocalState& observed);

// The moment the loop must wake up at the latest to keep its promises (renew or demote in time).
MonoTime NextWakeup(const AgentMemory& memory, MonoTime now, Duration loop_wait);

// "decision replica->promoting reason=\"...\" actions=[...]": the one log line per decision.
std::string Explain(NodeState from, const Decision& decision);

}  // namespace pgpilot
