#include "core/switchover.h"

#include <algorithm>

#include "core/candidates.h"

namespace pgpilot {
namespace {

// Why `member` cannot receive the lease, judged from the store alone; nullopt when it can.
std::optional<std::string> WhyNotTarget(const ClusterView& view, const MemberStatus& member,
                                        const LeaderRecord& leader, uint64_t maximum_lag, bool force) {
  if (member.name == leader.holder) return std::string("it is the leader already");
  if (member.tags.nofailover) return std::string("it is tagged nofailover");
  if (member.role != "replica" || !member.streaming || member.upstream != leader.holder) {
    return "it is not a replica streaming from " + leader.holder + " (role " + member.role +
           (member.streaming ? ", streaming from " + member.upstream : std::string(", not streaming")) + ")";
  }
  if (auto outside = OutsideSyncSet(view.sync, member.name);
      outside && view.sync->leader == leader.holder) {
    return *outside;
  }
  if (!force) {
    const MemberStatus* primary = view.FindMember(leader.holder);
    uint64_t lag = primary ? LsnDistance(primary->wal_position, member.wal_position) : 0;
    if (lag > maximum_lag) {
      return "it is " + std::to_string(lag) + " bytes behind " + leader.holder + " (more than " +
             std::to_string(maximum_lag) + "; --force hands over anyway, the shutdown waits for it)";
    }
  }
  return std::nullopt;
}

}  // namespace

Result<std::string> ChooseSwitchoverTarget(const ClusterView& view, const std::string& to,
                                           uint64_t maximum_lag, bool force) {
  if (!view.leader || view.leader->released) {
    return FailedPrecondition("there is no leader to switch over from",
                              "a cluster without a primary needs a failover, not a switchover");
  }
  const LeaderRecord& leader = *view.leader;
  if (view.config && view.config->pause) {
    return FailedPrecondition("the cluster is paused (maintenance)", "`ctl resume` first");
  }
  if (view.switchover) {
    return FailedPrecondition("a switchover from " + view.switchover->from + " to " +
                                  view.switchover->to + " is already pending",
                              "wait for it to finish");
  }
  if (!to.empty()) {
    const MemberStatus* member = view.FindMember(to);
    if (member == nullptr) {
      return InvalidArgument("no member named " + to + " is publishing its status",
                             "see `pgpilot ctl list` for the members");
    }
    if (auto why = WhyNotTarget(view, *member, leader, maximum_lag, force)) {
      return FailedPrecondition("cannot switch over to " + to + ": " + *why);
    }
    return to;
  }
  const MemberStatus* best = nullptr;
  std::string refused;
  for (const MemberStatus& member : view.members) {
    if (member.name == leader.holder) continue;
    if (auto why = WhyNotTarget(view, member, leader, maximum_lag, force)) {
      refused += (refused.empty() ? "" : "; ") + member.name + ": " + *why;
      continue;
    }
    if (best == nullptr || member.wal_position > best->wal_position) best = &member;
  }
  if (best == nullptr) {
    return FailedPrecondition("no member can take over from " + leader.holder +
                              (refused.empty() ? std::string() : " (" + refused + ")"));
  }
  return best->name;
}

std::optional<std::string> WhySwitchoverRefused(const SwitchoverRecord& request, const ClusterView& view,
                                                const LocalState& primary, SyncMode mode) {
  const MemberStatus* member = view.FindMember(request.to);
  if (member == nullptr) return request.to + " is not publishing its status";
  if (member->tags.nofailover) return request.to + " is tagged nofailover";
  bool streaming = std::any_of(primary.standbys.begin(), primary.standbys.end(),
                               [&](const StandbyProgress& s) { return s.name == request.to && s.streaming; });
  if (!streaming) return request.to + " is not streaming from us";
  if (mode != SyncMode::kOff) {
    if (auto outside = OutsideSyncSet(view.sync, request.to)) return *outside;
  }
  return std::nullopt;
}

const SwitchoverRecord* FailoverRequest(const ClusterView& view) {
  if (!view.switchover || !view.switchover->from.empty()) return nullptr;
  return &*view.switchover;
}

Status CheckFailoverTarget(const ClusterView& view, const std::string& to, bool force) {
  if (view.leader && !view.leader->released) {
    const MemberStatus* leader = view.FindMember(view.leader->holder);
    if (leader != nullptr && leader->role == "primary") {
      return FailedPrecondition("the cluster has a primary, " + view.leader->holder,
                                "a healthy cluster hands over with `ctl switchover`");
    }
  }
  if (view.switchover) {
    return FailedPrecondition("a request for " + view.switchover->to + " is already pending",
                              "wait for it, or for the member to take over");
  }
  const MemberStatus* member = view.FindMember(to);
  if (member == nullptr) {
    return InvalidArgument("no member named " + to + " is publishing its status",
                           "see `pgpilot ctl list` for the members");
  }
  if (member->role != "replica") {
    return FailedPrecondition("cannot fail over to " + to + ": it is not a running replica (role " +
                              member->role + ")");
  }
  if (member->tags.nofailover) return FailedPrecondition("cannot fail over to " + to + ": it is tagged nofailover");
  if (!force) {
    if (auto outside = OutsideSyncSet(view.sync, to)) {
      return FailedPrecondition("cannot fail over to " + to + ": " + *outside,
                                "--force promotes it anyway, losing what only the others had");
    }
  }
  return Status::Ok();
}

const SwitchoverRecord* HandoverInProgress(const ClusterView& view) {
  if (!view.switchover || !view.leader || !view.leader->released) return nullptr;
  if (view.switchover->from.empty() || view.leader->holder != view.switchover->from) return nullptr;
  return &*view.switchover;
}

}  // namespace pgpilot
