#include "core/member_requests.h"

#include <algorithm>

namespace pgpilot {
namespace {

RequestPlan Refuse(std::string why) {
  RequestPlan plan;
  plan.refused = std::move(why);
  return plan;
}

RequestPlan PlanRestart(const MemberRequest& request, const RequestContext& c) {
  const LocalState& local = c.local;
  if (!local.running) {
    return Refuse("PostgreSQL is not running: nothing to restart (the agent starts it when it may)");
  }
  if (!local.accepting) {
    return Refuse("PostgreSQL does not accept connections yet (" + local.connect_error +
                  "): ask again once it does");
  }
  if (request.only_if_pending && !local.pending_restart) {
    return Refuse("no changed parameter waits for a restart (--pending)");
  }
  RequestPlan plan;
  if (!local.in_recovery) {
    // The fence stops a writable PostgreSQL without a provable lease before any request.
    if (!c.lease_term) return Refuse("PostgreSQL runs as a primary without our lease");
    plan.actions = {Stop{StopMode::kFast}, Start{StartRole::kPrimary, std::nullopt}};
    plan.reason = "restart requested by an operator: clean stop and start as the primary, "
                  "keeping the leader lease (no failover)";
    return plan;
  }
  if (c.lease_term) {
    return Refuse("we hold the leader lease and are promoting: restart after the promotion");
  }
  plan.actions = {Stop{StopMode::kFast}, Start{StartRole::kReplica, c.leader}};
  plan.reason = "restart requested by an operator: clean stop and start as a replica" +
                (c.leader ? " of " + c.leader->name : std::string(" (no leader to follow yet)"));
  return plan;
}

RequestPlan PlanReinit(const RequestContext& c) {
  const LocalState& local = c.local;
  if (c.lease_term || local.may_accept_writes()) {
    return Refuse("this member is the leader: its data is the cluster's; switch over first, "
                  "then re-initialize it as a replica");
  }
  if (c.in_sync_set) {
    return Refuse("this member is a synchronous standby: besides the leader's, its copy is the one "
                  "that protects acknowledged commits; wait until it leaves the synchronous set, or "
                  "turn synchronous mode off for the re-initialization (`ctl edit-config --set "
                  "synchronous_mode=off`)");
  }
  if (c.paused) return Refuse("the cluster is paused and a re-clone needs the agent to act: `ctl resume` first");
  if (!c.leader) return Refuse("no valid leader with an address to clone from");
  // A leader that stopped renewing may be dying: do not trade our copy for a clone of it.
  Duration renewal_gap = std::max(3 * c.loop_wait, Duration(1000));
  if (c.leader_unchanged_for > renewal_gap) {
    return Refuse("leader " + c.leader->name + " has not renewed its lease for " +
                  FormatSeconds(c.leader_unchanged_for) + ": it may be failing, and our copy may be the "
                  "one the cluster needs; ask again once it renews");
  }
  if (!c.leader_serves) {
    return Refuse("leader " + c.leader->name + " does not publish a running primary: our copy may be "
                  "the one the cluster needs, so it is not set aside");
  }
  if (local.data_dir == DataDirKind::kEmpty || local.data_dir == DataDirKind::kMissing) {
    return Refuse("the data directory is empty: the agent clones it by itself");
  }
  RequestPlan plan;
  if (local.running) plan.actions.push_back(Stop{StopMode::kFast});
  plan.actions.push_back(KeepDataDirAside{kReinitAsideReason});
  plan.next = NodeState::kWaiting;
  plan.reason = "re-initialization requested by an operator: the data directory is kept aside and "
                "the member clones afresh from " + c.leader->name;
  return plan;
}

}  // namespace

RequestPlan PlanRequest(const MemberRequest& request, const RequestContext& context) {
  return request.kind == RequestKind::kReinit ? PlanReinit(context) : PlanRestart(request, context);
}

std::optional<WriteRequests> SettleRequest(const RequestsRecord& record, const std::string& member,
                                           const std::optional<std::string>& refused) {
  RequestsRecord next = record;
  auto mine = std::find_if(next.requests.begin(), next.requests.end(),
                           [&](const MemberRequest& r) { return r.member == member; });
  if (mine == next.requests.end()) return std::nullopt;
  if (refused) {
    mine->refused = *refused;
  } else {
    next.requests.erase(mine);
  }
  return WriteRequests{std::move(next), record.revision};
}

std::string DescribeRequest(const MemberRequest& request) {
  if (request.kind == RequestKind::kReinit) return "reinit";
  return request.only_if_pending ? "restart (if pending)" : "restart";
}

}  // namespace pgpilot
