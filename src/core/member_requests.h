// An operator's request to one member (`ctl restart`, `ctl reinit`): whether this member carries
// it out now, with which actions, or why it refuses. Pure; Decide composes it.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/action.h"
#include "core/cluster_view.h"
#include "core/local_state.h"
#include "core/node_state.h"

namespace pgpilot {

// Why a reinit keeps a data directory aside (the simulator tells it from other reasons).
inline constexpr const char* kReinitAsideReason = "re-initialization requested by an operator";

// What the request's member knows when it decides.
struct RequestContext {
  const LocalState& local;
  std::optional<uint64_t> lease_term;     // our provable lease, if we hold one
  std::optional<MemberEndpoint> leader;   // another member's valid lease, when it has an address
  bool leader_serves = false;             // ... and publishes a running primary (a clone source)
  Duration leader_unchanged_for{0};       // ... whose record we saw unchanged for this long
  Duration loop_wait{1000};               // the loop interval in force (the leader renews at it)
  bool paused = false;
  bool in_sync_set = false;  // synchronous mode, and the `sync` record lists us
};

struct RequestPlan {
  // Carried out: these actions (after the request's removal), then `next` for `reason`.
  std::vector<Action> actions;
  NodeState next = NodeState::kStarting;
  std::string reason;
  // Not carried out: why (the request stays, marked refused, and the tick goes on as usual).
  std::optional<std::string> refused;
};

RequestPlan PlanRequest(const MemberRequest& request, const RequestContext& context);

// The compare-and-swap write that marks our request done (removed) or refused (kept, with the
// reason); nullopt when there is nothing to write.
std::optional<WriteRequests> SettleRequest(const RequestsRecord& record, const std::string& member,
                                           const std::optional<std::string>& refused);

// "restart", "restart (if pending)", "reinit": for messages.
std::string DescribeRequest(const MemberRequest& request);

}  // namespace pgpilot
