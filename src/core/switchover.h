// Planned switchover: which member may receive the leader lease from the primary, and whether a
// released lease is being handed to one member by request.
//
// The handover: the primary checkpoints (so the shutdown is short), stops PostgreSQL cleanly (its
// streaming replicas receive every byte up to the shutdown checkpoint) and releases the lease at
// its final position. The requested member then takes it without waiting for a ttl and without
// asking the others (nobody can be ahead of the released position), promotes, and clears the
// request; the others wait for it instead of standing. The old primary stopped cleanly, so it
// follows the new timeline without pg_rewind. If the target does not take the lease within a
// ttl, the old primary takes it back.
#pragma once

#include <optional>
#include <string>

#include "core/cluster_view.h"
#include "core/local_state.h"
#include "core/result.h"
#include "core/sync_standbys.h"

namespace pgpilot {

// What ctl checks before it writes a request: the target exists, is a replica streaming from the
// leader, is not tagged nofailover, is in the sync set when there is one, and (unless `force`) is
// within `maximum_lag` bytes of the leader. With `to` empty, the best such member (most advanced,
// then by name). Returns the target's name, or an error naming why.
Result<std::string> ChooseSwitchoverTarget(const ClusterView& view, const std::string& to,
                                           uint64_t maximum_lag, bool force);

// The primary's own check when it acts on `request` (its view of its standbys is first-hand):
// why `request.to` cannot take over now, or nullopt.
std::optional<std::string> WhySwitchoverRefused(const SwitchoverRecord& request, const ClusterView& view,
                                                const LocalState& primary, SyncMode mode);

// The request being carried out: the lease was released by the member the request was made to.
// Null when there is none (then a released lease is open to the usual election).
const SwitchoverRecord* HandoverInProgress(const ClusterView& view);

// An operator's failover request (`from` empty), or null.
const SwitchoverRecord* FailoverRequest(const ClusterView& view);

// What ctl checks before it requests a failover to `to`: no healthy leader is left, and `to`
// is a running replica, not tagged nofailover and (unless `force`) inside the sync set.
Status CheckFailoverTarget(const ClusterView& view, const std::string& to, bool force);

}  // namespace pgpilot
