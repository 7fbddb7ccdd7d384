// Synchronous mode: which standbys every commit waits for, and the safe order of changing them.
//
// The invariant: every commit the primary acknowledged is on each member of the store's `sync`
// record. PostgreSQL's synchronous_standby_names therefore always names at least the record's
// members: a standby is named in PostgreSQL first and enters the record only once it has every
// commit acknowledged before PostgreSQL began waiting for it; it leaves the record first and
// PostgreSQL's setting after. Promotion is allowed only to the record's members (candidates.h).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/action.h"
#include "core/cluster_view.h"
#include "core/local_state.h"
#include "core/sync_mode.h"
#include "core/types.h"

namespace pgpilot {



// The name synchronous_standby_names lists in strict mode when no standby qualifies: no member
// can have it (member names are [a-z0-9-]), so commits wait.
inline constexpr std::string_view kNoStandbyName = "pgpilot_no_standby";

// The application_name of the agent's commit fence (postgres/commit_fence.h): with it among the
// names, every commit also waits for the agent's confirmation, given only under its lease.
inline constexpr std::string_view kCommitFenceName = "pgpilot_commit_fence";

// synchronous_standby_names for waiting on all of `names` (and the commit fence, when
// `commit_fence`): 'ANY 3 ("pgpilot_commit_fence", "pg-1", "pg-2")', or "" for nothing. Every
// listed name must confirm, so the set is exact.
std::string SynchronousStandbyNames(const std::vector<std::string>& names, bool commit_fence = false);
// The standby names of a value SynchronousStandbyNames wrote (sorted, without the commit fence);
// "" is none. nullopt for any other form (an operator's setting): then pgpilot cannot tell what
// PostgreSQL waits for.
std::optional<std::vector<std::string>> ParseSynchronousStandbyNames(std::string_view text);
// Whether a value SynchronousStandbyNames wrote makes commits wait for the commit fence.
bool NamesCommitFence(std::string_view text);

// How long after asking PostgreSQL to wait for a standby (a reload) its setting counts as in
// effect in every process that releases commits (the WAL senders reload within milliseconds).
inline constexpr Duration kSyncReloadSettle = std::chrono::seconds(1);

// A standby on its way into the synchronous set.
struct SyncJoin {
  std::string name;
  MonoTime asked_at;       // when PostgreSQL was asked to wait for it
  bool in_effect = false;  // PostgreSQL waits for it, for kSyncReloadSettle already
  Lsn needed;              // our WAL position then: it must have flushed this much

  friend bool operator==(const SyncJoin&, const SyncJoin&) = default;
};

// What the primary does about its synchronous standbys this tick.
struct SyncPlan {
  std::vector<Action> actions;  // run after the lease renewal, in order
  SyncJoin join;                // the next value of AgentMemory::sync_join
  std::string summary;          // for the decision's reason
};
// `commit_fence`: every setting it writes also names the commit fence (and one is written when
// only the fence's presence is wrong).
SyncPlan PlanSyncStandbys(SyncMode mode, int count, const std::string& me, const ClusterView& view,
                          const LocalState& local, const SyncJoin& join, MonoTime now,
                          bool commit_fence = false);

// The compare-and-swap replacing `current` (absent: creating it) with `next`.
WriteSync WriteSyncOver(const std::optional<SyncRecord>& current, SyncRecord next);

// Synchronous mode, for a member about to promote: why the `sync` record says it may lack
// acknowledged commits, or nullopt when it has them all (it is the record's leader or member,
// or there is no record yet, or one without a leader: written when the mode was turned off).
std::optional<std::string> OutsideSyncSet(const std::optional<SyncRecord>& sync,
                                          const std::string& member);

}  // namespace pgpilot
