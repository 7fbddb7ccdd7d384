#include "core/decide.h"

#include <algorithm>

#include "core/defaults.h"
#include "core/member_requests.h"
#include "core/switchover.h"

namespace pgpilot {
namespace {

NodeState StateOfTask(TaskKind kind) {
  switch (kind) {
    case TaskKind::kBootstrap: return NodeState::kBootstrapping;
    case TaskKind::kClone: return NodeState::kCloning;
    case TaskKind::kRewind: return NodeState::kRewinding;
    case TaskKind::kStart: return NodeState::kStarting;
    case TaskKind::kNone: break;
  }
  return NodeState::kWaiting;
}

std::optional<MemberEndpoint> EndpointOf(const ClusterView& view, const std::string& name) {
  const MemberStatus* m = view.FindMember(name);
  if (m == nullptr || m->host.empty() || m->port <= 0) return std::nullopt;
  return MemberEndpoint{m->name, m->host, m->port};
}

std::string HostPort(const MemberEndpoint& ep) { return ep.host + ":" + std::to_string(ep.port); }

// The history entry a promotion records before it happens. The switch point is normally what
// we have replayed: PostgreSQL ends recovery at or after it, so the record errs towards calling
// other members diverged (a rewind that finds nothing to do), never towards missing a
// divergence. (A switchover's handover passes what we received; see Elect.)
HistoryEntry Reservation(const Observation& o, Timeline next, const std::string& previous_leader,
                         const std::string& reason, Lsn switch_lsn) {
  const ClusterView& v = *o.view;
  return HistoryEntry{next, switch_lsn, o.local.timeline, previous_leader,
                      o.settings.member_name, v.leader ? v.leader->term + 1 : 0, o.wall_now, reason};
}

// Our own reservation of the newest timeline, made for a promotion that has not happened yet.
const HistoryEntry* OwnReservation(const ClusterView& v, const LocalState& local, const std::string& me) {
  const HistoryEntry* newest = HistoryFor(v.history, NewestTimeline(v.history));
  if (newest != nullptr && newest->new_leader == me && newest->timeline > local.timeline) return newest;
  return nullptr;
}

// Why our WAL cannot continue into the leader's timeline, or nullopt when it can (or the history
// cannot tell). Timeline numbers are unique in a cluster (NextTimeline), so a higher number of
// ours means we went on after the leader's timeline began.
std::optional<std::string> DivergedFromLeader(const ClusterView& v, const LocalState& local,
                                              const LeaderRecord& leader) {
  std::string ours = "our timeline " + std::to_string(local.timeline) + " went on to " +
                     local.wal_position.ToString();
  Timeline theirs = leader.timeline;
  if (local.timeline > theirs) {
    // A new primary's record carries its old timeline until its first renewal after promoting:
    // a timeline the history credits to the leader is the one we already follow.
    const HistoryEntry* entry = HistoryFor(v.history, local.timeline);
    if (entry != nullptr && entry->new_leader == leader.holder) return std::nullopt;
    return ours + ", after the leader's timeline " + std::to_string(theirs) + " began";
  }
  if (local.timeline == theirs) return std::nullopt;
  Fork fork = ForkBetween(v.history, theirs, local.timeline);
  if (fork.kind == Fork::kNotAncestor) {
    return ours + ", a timeline the leader's timeline " + std::to_string(theirs) +
           " does not descend from";
  }
  if (fork.kind == Fork::kAt && local.wal_position > fork.lsn) {
    return ours + " past where the leader's timeline " + std::to_string(theirs) +
           " left it at " + fork.lsn.ToString();
  }
  return std::nullopt;
}

// Why our cleanly stopped WAL is a prefix of the leader's timeline (so it follows without
// pg_rewind), or nullopt when that is not proven: a clean shutdown as the primary, and the
// history shows the leader's newest timeline leaving ours at or after our shutdown checkpoint.
std::optional<std::string> ContinuesCleanly(const ClusterView& v, const LocalState& local,
                                            const LeaderRecord& leader) {
  if (!local.clean_shutdown) return std::nullopt;
  const HistoryEntry* newest = nullptr;
  for (const HistoryEntry& h : v.history) {
    if (h.new_leader == leader.holder && (newest == nullptr || h.timeline > newest->timeline)) newest = &h;
  }
  if (newest == nullptr || newest->timeline <= local.timeline) return std::nullopt;
  Fork fork = ForkBetween(v.history, newest->timeline, local.timeline);
  // wal_position is where our shutdown checkpoint record starts: the fork must lie past it.
  if (fork.kind != Fork::kAt || local.wal_position >= fork.lsn) return std::nullopt;
  return "we stopped cleanly at " + local.wal_position.ToString() + " and timeline " +
         std::to_string(newest->timeline) + " of " + leader.holder + " continues from " +
         fork.lsn.ToString();
}

// The timeline a promotion of ours creates: above ours and above every number the history
// records (reserved by an earlier promotion, whether or not it finished).
Timeline NextTimeline(const ClusterView& view, const LocalState& local) {
  return std::max(local.timeline, NewestTimeline(view.history)) + 1;
}

// Take the lease only from a CAS on what we saw: absent, or this exact revision.
AcquireLease AcquireFrom(const std::optional<LeaderRecord>& record) {
  if (!record) return AcquireLease{0, true};
  return AcquireLease{record->revision, false};
}

class Builder {
 public:
  explicit Builder(const Observation& o) : o_(o) {
    d_.memory = o.memory;
    d_.next = o.memory.state;
  }
  AgentMemory& memory() { return d_.memory; }
  void Add(Action a) { d_.actions.push_back(std::move(a)); }
  void NeedPeers() { d_.needs_peer_positions = true; }
  Decision Done(NodeState next, std::string reason) {
    d_.next = next;
    d_.memory.state = next;
    d_.reason = std::move(reason);
    return std::move(d_);
  }

 private:
  const Observation& o_;
  Decision d_;
};

// Synchronous mode, before a promotion: the `sync` record names us as its leader, with no
// standbys yet (what PostgreSQL on the new primary waits for is not known yet).
void AddTakeSyncSet(const Observation& o, Builder& b) {
  const std::optional<SyncRecord>& sync = o.view->sync;
  if (sync && sync->leader == o.settings.member_name && sync->members.empty()) return;
  b.Add(WriteSyncOver(sync, SyncRecord{o.settings.member_name, {}, 0}));
}

// With the commit fence, before a promotion: PostgreSQL must wait for the fence from its very
// first write, not from our first tick as the primary (we may stall right after promoting).
void AddFenceBeforePromotion(const Observation& o, Builder& b) {
  if (!o.settings.commit_fence || NamesCommitFence(o.local.synchronous_standby_names)) return;
  b.Add(SetSyncStandbys{ParseSynchronousStandbyNames(o.local.synchronous_standby_names)
                            .value_or(std::vector<std::string>{}),
                        true});
}

// A primary's synchronous standbys (sync_standbys.h): their actions after ours, the join in
// progress remembered; the plan's summary for the reason ("" when there is nothing to say).
std::string AddSyncPlan(const Observation& o, Builder& b) {
  AgentMemory& m = b.memory();
  SyncPlan sync = PlanSyncStandbys(o.settings.synchronous_mode, o.settings.synchronous_node_count,
                                   o.settings.member_name, *o.view, o.local, m.sync_join, o.now,
                                   o.settings.commit_fence);
  for (Action& action : sync.actions) b.Add(std::move(action));
  m.sync_join = sync.join;
  return sync.summary.empty() ? std::string() : "; " + sync.summary;
}

// Why our own lease is not provable right now, or nullopt when it is.
std::optional<std::string> WhyLeaseUnprovable(const Observation& o) {
  const AgentMemory& m = o.memory;
  const std::string& me = o.settings.member_name;
  if (!m.lease) {
    if (o.view.ok() && o.view->leader && o.view->leader->holder != me) {
      return "the lease is held by " + o.view->leader->holder;
    }
    return std::string("we hold no leader lease");
  }
  if (o.now >= OwnLeaseDeadline(*m.lease)) {
    return "our last successful renewal was sent " + FormatSeconds(o.now - m.lease->sent_at) +
           " ago (ttl " + FormatSeconds(m.lease->ttl) + " minus margin " +
           FormatSeconds(LeaseMargin(m.lease->ttl)) + ")" +
           (o.view.ok() ? std::string() : "; store unreachable: " + o.view.error().message);
  }
  if (o.view.ok()) {
    const auto& rec = o.view->leader;
    if (!rec) return std::string("the leader record is gone from the store");
    if (rec->holder != me) return "the lease is now held by " + rec->holder + " (term " +
                                  std::to_string(rec->term) + ")";
    if (rec->term != m.lease->term) return "the lease term changed to " + std::to_string(rec->term);
    if (rec->released) return std::string("we released the lease");
  }
  return std::nullopt;
}

Decision WhileStoreUnavailable(const Observation& o, Builder& b) {
  const LocalState& local = o.local;
  const std::string err = "store unreachable: " + o.view.error().ToString();
  if (!o.memory.blocked.empty()) return b.Done(NodeState::kBlocked, o.memory.blocked + "; " + err);
  if (local.is_running_primary()) {
    return b.Done(NodeState::kPrimary,
                  err + "; the lease stays provable for " +
                      FormatSeconds(OwnLeaseDeadline(*b.memory().lease) - o.now) +
                      " more, then we stop accepting writes");
  }
  if (local.running) {
    // In recovery under our (provable) lease we are promoting; that goes on while the store is away.
    bool promoting = local.is_running_replica() && b.memory().lease.has_value();
    return b.Done(local.is_running_replica() && !promoting ? NodeState::kReplica : o.memory.state,
                  err + (promoting ? "; the promotion goes on under our lease"
                                   : "; PostgreSQL keeps serving reads"));
  }
  if (local.data_dir == DataDirKind::kValid && o.now >= o.memory.retry_after) {
    b.Add(Start{StartRole::kReplica, std::nullopt});
    return b.Done(NodeState::kStarting, err + "; starting PostgreSQL read-only");
  }
  return b.Done(local.data_dir == DataDirKind::kValid ? NodeState::kStopped : NodeState::kWaiting,
                err);
}

// What a running instance is while the initialize key is sorted out: its state stays, unless
// that state promised nothing about a running instance.
NodeState RunningMeanwhile(const Observation& o) {
  const LocalState& local = o.local;
  if (!local.running) return NodeState::kWaiting;
  switch (o.memory.state) {
    case NodeState::kStarting:
    case NodeState::kReplica:
    case NodeState::kPromoting:
    case NodeState::kPrimary:
      return o.memory.state;
    default:
      return local.is_running_replica() ? NodeState::kReplica : NodeState::kStarting;
  }
}

// Evidence that the cluster already holds data although its initialize key is gone (a store
// wiped or restored): a timeline switch in the history, a leader that ran on a timeline, or
// another member publishing one.
std::optional<std::string> ClusterExisted(const ClusterView& v, const std::string& me) {
  if (!v.history.empty()) return "the history records timeline switches";
  if (v.leader && v.leader->timeline > 0) {
    return "the leader record of " + v.leader->holder + " names timeline " +
           std::to_string(v.leader->timeline);
  }
  for (const MemberStatus& member : v.members) {
    if (member.name != me && member.timeline > 0) {
      return member.name + " publishes data on timeline " + std::to_string(member.timeline);
    }
  }
  return std::nullopt;
}

Decision Bootstrap(const Observation& o, Builder& b, const std::optional<TaskState>& finished) {
  const ClusterView& v = *o.view;
  const LocalState& local = o.local;
  const std::string& me = o.settings.member_name;
  AgentMemory& m = b.memory();
  LeaderAssessment leader = AssessLeader(m.leader, o.now);
  bool lease_free = leader.status != LeaderStatus::kValid ||
                    (v.leader && v.leader->holder == me);

  if (!v.initialize) {
    if (local.data_dir == DataDirKind::kValid) {
      // A primary keeps renewing its lease meanwhile.
      if (local.is_running_primary()) b.Add(RenewLease{m.lease->term});
      b.Add(ClaimInitialize{local.system_id});
      return b.Done(RunningMeanwhile(o),
                    "the store has no initialize key and our data directory holds system " +
                        local.system_id + ": registering it as the cluster's");
    }
    if (local.data_dir == DataDirKind::kIncomplete) {
      b.Add(KeepDataDirAside{"interrupted initdb or clone"});
      return b.Done(NodeState::kWaiting,
                    "data directory holds an interrupted initdb or clone: keeping it aside");
    }
    if (auto evidence = ClusterExisted(v, me)) {
      return b.Done(NodeState::kWaiting,
                    "the store has no initialize key but the cluster exists (" + *evidence +
                        "): never initdb'ing a second cluster; waiting for a member with data to "
                        "register it again");
    }
    if (!lease_free) {
      return b.Done(NodeState::kWaiting, "waiting for the stale lease of " + v.leader->holder +
                                             " to expire before bootstrapping");
    }
    b.Add(ClaimInitialize{""});
    b.Add(AcquireFrom(v.leader));
    b.Add(pgpilot::Bootstrap{});
    return b.Done(NodeState::kBootstrapping,
                  "the cluster is not initialized and our data directory is empty: claiming "
                  "the bootstrap (initdb)");
  }

  const InitializeRecord& init = *v.initialize;
  if (init.claimed_by != me) {
    return b.Done(RunningMeanwhile(o), init.claimed_by + " is bootstrapping the cluster");
  }
  if (finished && finished->kind == TaskKind::kBootstrap && !finished->succeeded) {
    b.Add(AbandonInitialize{});
    m.blocked = "bootstrap failed: " + finished->error +
                "; fix the cause and restart the agent (our initialize claim is dropped so "
                "another member may bootstrap)";
    return b.Done(NodeState::kBlocked, m.blocked);
  }
  if (m.bootstrap_done && local.is_running_primary() && m.lease) {
    b.Add(RenewLease{m.lease->term});
    b.Add(CompleteInitialize{local.system_id});
    return b.Done(NodeState::kPrimary,
                  "bootstrap finished: the cluster is initialized with system identifier " +
                      local.system_id);
  }
  if (local.data_dir == DataDirKind::kIncomplete) {
    b.Add(KeepDataDirAside{"interrupted initdb"});
    return b.Done(NodeState::kWaiting,
                  "data directory holds an interrupted initdb: keeping it aside and starting over");
  }
  if (local.running && !local.may_accept_writes()) {
    // Started read-only meanwhile (while the store was unreachable): the bootstrap only finishes
    // with it as the primary, and nobody can have cloned a cluster that was never complete.
    b.Add(Stop{StopMode::kFast});
    return b.Done(NodeState::kStopped,
                  "our bootstrap is not complete and PostgreSQL runs read-only: stopping it to "
                  "finish the bootstrap as the primary");
  }
  if (!lease_free) {
    return b.Done(NodeState::kWaiting, "waiting for the stale lease of " + v.leader->holder +
                                           " to expire before bootstrapping");
  }
  if (m.lease) b.Add(RenewLease{m.lease->term});
  else b.Add(AcquireFrom(v.leader));
  b.Add(pgpilot::Bootstrap{});
  return b.Done(NodeState::kBootstrapping,
                "our bootstrap claim is not complete: running the (idempotent) bootstrap");
}

Decision Elect(const Observation& o, Builder& b, LeaderAssessment leader) {
  const ClusterView& v = *o.view;
  const LocalState& local = o.local;
  const std::string& me = o.settings.member_name;
  std::string lease_text =
      !v.leader ? std::string("no leader lease exists")
      : leader.status == LeaderStatus::kReleased
          ? "the lease was released by " + v.leader->holder + " at " + v.leader->lsn.ToString()
          : "the lease of " + v.leader->holder + " expired (unchanged for " +
                FormatSeconds(leader.unchanged_for) + ")";

  // A planned switchover hands a released lease to one member; the others wait for it.
  // A handover is waited for during one ttl; then the lease is open to the usual election.
  const SwitchoverRecord* handover = HandoverInProgress(v);
  if (handover != nullptr && leader.unchanged_for >= o.settings.ttl) handover = nullptr;
  if (handover != nullptr && handover->to != me) {
    return b.Done(NodeState::kReplica, lease_text + "; a switchover hands it to " + handover->to);
  }
  // An operator's failover names the member to promote; the others wait for it while it
  // publishes itself as a replica, for two ttls (a target that cannot does not block forever).
  const SwitchoverRecord* manual = FailoverRequest(v);
  if (manual != nullptr && manual->to != me) {
    const MemberStatus* target = v.FindMember(manual->to);
    bool fresh = o.wall_now.unix_ms - manual->requested.unix_ms < 2 * o.settings.ttl.count();
    if (target != nullptr && target->role == "replica" && fresh) {
      return b.Done(NodeState::kReplica, lease_text + "; an operator's failover names " + manual->to);
    }
    manual = nullptr;
  }
  const bool forced = manual != nullptr && manual->force;
  const bool sync_mode = o.settings.synchronous_mode != SyncMode::kOff;
  if (sync_mode && !forced) {
    if (auto outside = OutsideSyncSet(v.sync, me)) {
      return b.Done(NodeState::kReplica, lease_text + "; we may not take over: " + *outside);
    }
  }
  Candidate self{me, true, true, o.settings.tags.nofailover, local.timeline, local.wal_position, ""};
  uint64_t max_lag = forced ? UINT64_MAX : o.settings.maximum_lag_on_failover;
  if (auto why = Ineligibility(self, v.leader, max_lag)) {
    return b.Done(NodeState::kReplica, lease_text + "; we may not take over: " + *why);
  }
  std::string why_us;
  if (handover != nullptr) {
    // Nobody can be ahead of the position the leader released the lease at, and we have it.
    why_us = "the switchover names us: taking the lease at once";
  } else if (manual != nullptr) {
    why_us = std::string("an operator's failover names us") + (forced ? " (forced)" : "");
  } else {
    if (!o.peers_collected) {
      b.NeedPeers();
      return b.Done(NodeState::kReplica, lease_text + "; asking the other members for their positions");
    }
    std::vector<Candidate> all = o.peers;
    all.push_back(self);
    for (Candidate& c : all) c.outside_sync_set = sync_mode && OutsideSyncSet(v.sync, c.name);
    Ranking ranking =
        RankCandidates(all, v.leader, o.settings.maximum_lag_on_failover, v.history);
    if (ranking.eligible.front().name != me) {
      return b.Done(NodeState::kReplica, lease_text + "; " + ranking.eligible.front().name +
                                             " is the better candidate: " + ranking.Describe());
    }
    why_us = "we are the best candidate, taking the lease: " + ranking.Describe();
  }
  AgentMemory& m = b.memory();
  m.previous_leader = v.leader ? v.leader->holder : "";
  m.promotion_reason = handover != nullptr ? "switchover from " + handover->from + " to " + me
                       : manual != nullptr ? "failover to " + me + " by an operator" +
                                                 (forced ? " (forced)" : "") + "; " + lease_text
                                           : lease_text;
  // The new timeline is recorded before PostgreSQL switches to it, so no later promotion can
  // pick its number again, even if we stop right after promoting.
  Timeline next = NextTimeline(v, local);
  b.Add(AcquireFrom(v.leader));
  // In synchronous mode the set is ours (and empty) before we accept a write, so nobody can be
  // promoted past a commit we acknowledge before a standby caught up.
  if (sync_mode) AddTakeSyncSet(o, b);
  // After a clean stop the leader's WAL sender waited until we had flushed every record up to
  // its shutdown checkpoint: in a handover, what we received ends at a record boundary and
  // PostgreSQL's recovery ends there (or later), so the old leader can see it stopped before.
  Lsn switch_lsn = handover != nullptr ? std::max(local.replayed, local.wal_position) : local.replayed;
  b.Add(AppendHistory{Reservation(o, next, m.previous_leader, m.promotion_reason, switch_lsn)});
  AddFenceBeforePromotion(o, b);
  b.Add(Promote{next});
  return b.Done(NodeState::kPromoting, lease_text + "; " + why_us);
}

Decision RunningReplica(const Observation& o, Builder& b, LeaderAssessment leader) {
  const ClusterView& v = *o.view;
  const LocalState& local = o.local;
  const std::string& me = o.settings.member_name;
  AgentMemory& m = b.memory();
  const std::optional<LeaderRecord>& rec = v.leader;

  if (rec && rec->holder == me && !rec->released) {
    // We took the lease (or held it before a restart of the agent) and are still in recovery.
    // Promote onto the timeline we reserved before, or reserve one now.
    const SwitchoverRecord* manual = FailoverRequest(v);
    bool forced = manual != nullptr && manual->to == me && manual->force;
    if (o.settings.synchronous_mode != SyncMode::kOff && !forced) {
      if (auto outside = OutsideSyncSet(v.sync, me)) {
        return b.Done(NodeState::kReplica, "we hold the leader lease but " + *outside +
                                               ": not promoting, letting the lease expire");
      }
    }
    b.Add(RenewLease{rec->term});
    if (o.settings.synchronous_mode != SyncMode::kOff) AddTakeSyncSet(o, b);
    AddFenceBeforePromotion(o, b);
    const HistoryEntry* own = OwnReservation(v, local, me);
    if (own != nullptr) {
      b.Add(Promote{own->timeline});
    } else {
      Timeline next = NextTimeline(v, local);
      b.Add(AppendHistory{Reservation(o, next, m.previous_leader, "the lease names us: promoting",
                                      local.replayed)});
      b.Add(Promote{next});
    }
    return b.Done(NodeState::kPromoting,
                  "we hold the leader lease (term " + std::to_string(rec->term) + "): promoting");
  }
  if (rec && leader.status == LeaderStatus::kValid) {
    auto ep = EndpointOf(v, rec->holder);
    if (!ep) {
      return b.Done(NodeState::kReplica,
                    "leader " + rec->holder + " has not published its address yet");
    }
    // A former primary (or a replica that received WAL its old primary never shipped
    // elsewhere) must not replay the leader's timeline on top of diverged WAL.
    if (auto diverged = DivergedFromLeader(v, local, *rec)) {
      m.needs_rewind = true;
      // A rewind against this leader that "succeeded" did not cover it (it ran, say, while the
      // leader was still promoting): another one is due.
      m.rewound_term = 0;
      b.Add(Stop{StopMode::kFast});
      return b.Done(NodeState::kStopped, *diverged + ": stopping to rewind from " + rec->holder);
    }
    if (local.upstream != HostPort(*ep)) {
      b.Add(Follow{*ep});
      return b.Done(NodeState::kReplica,
                    "following leader " + rec->holder + " at " + HostPort(*ep) +
                        (local.upstream.empty() ? std::string(" (no upstream before)")
                                                : " (was " + local.upstream + ")"));
    }
    return b.Done(NodeState::kReplica, local.streaming
                                           ? "streaming from leader " + rec->holder
                                           : "following leader " + rec->holder +
                                                 "; WAL receiver not streaming yet");
  }
  return Elect(o, b, leader);
}

std::vector<std::string> OtherMembers(const ClusterView& v, const std::string& me) {
  std::vector<std::string> names;
  for (const auto& member : v.members) {
    if (member.name != me) names.push_back(member.name);
  }
  return names;
}

Decision WithView(const Observation& o, Builder& b, const std::optional<TaskState>& finished) {
  const ClusterView& v = *o.view;
  const LocalState& local = o.local;
  const std::string& me = o.settings.member_name;
  AgentMemory& m = b.memory();

  if (!m.blocked.empty()) return b.Done(NodeState::kBlocked, m.blocked);
  if (local.data_dir == DataDirKind::kForeign) {
    return b.Done(NodeState::kBlocked,
                  "cannot use the data directory: " + local.data_dir_detail +
                      "; nothing was touched, and the agent continues by itself once it is fixed");
  }
  if (v.initialize && v.initialize->complete() && local.data_dir == DataDirKind::kValid &&
      local.system_id != v.initialize->system_id) {
    return b.Done(NodeState::kBlocked,
                  "the data directory belongs to another cluster (system identifier " +
                      local.system_id + ", this cluster is " + v.initialize->system_id +
                      "); nothing was touched: move the directory aside and the agent clones "
                      "this cluster into an empty one");
  }
  if (!v.initialize || !v.initialize->complete()) return Bootstrap(o, b, finished);

  LeaderAssessment leader = AssessLeader(m.leader, o.now);
  const std::optional<LeaderRecord>& rec = v.leader;
  bool leader_is_me = rec && rec->holder == me && !rec->released;
  bool other_leader_valid = rec && rec->holder != me && leader.status == LeaderStatus::kValid;
  std::string failure = finished && !finished->succeeded
                            ? std::string(TaskKindName(finished->kind)) + " failed: " +
                                  finished->error + "; "
                            : std::string();
  bool backing_off = o.now < m.retry_after;
  std::string retry_text = "retrying in " + FormatSeconds(m.retry_after - o.now);

  if (local.data_dir != DataDirKind::kValid) {
    if (local.data_dir == DataDirKind::kIncomplete) {
      b.Add(KeepDataDirAside{"interrupted clone or initdb"});
      return b.Done(NodeState::kWaiting,
                    "data directory holds an interrupted clone or initdb: keeping it aside");
    }
    if (!other_leader_valid) {
      return b.Done(NodeState::kWaiting,
                    failure + "our data directory is empty and there is no leader to clone from "
                              "(leader lease " + LeaderStatusName(leader.status) + ")");
    }
    auto ep = EndpointOf(v, rec->holder);
    if (!ep) {
      return b.Done(NodeState::kWaiting,
                    "leader " + rec->holder + " has not published its address yet");
    }
    if (backing_off) return b.Done(NodeState::kWaiting, failure + retry_text);
    // A replica tagged clonefrom spares the leader the base backup.
    for (const MemberStatus& member : v.members) {
      auto source = EndpointOf(v, member.name);
      if (member.tags.clonefrom && member.name != me && member.role == "replica" && member.streaming &&
          member.upstream == rec->holder && source) {
        b.Add(Clone{*source, false});
        return b.Done(NodeState::kCloning,
                      "our data directory is empty and the cluster exists: cloning from " + member.name +
                          " (tagged clonefrom; an initialized cluster is never initdb'd again)");
      }
    }
    b.Add(Clone{*ep, true});
    return b.Done(NodeState::kCloning,
                  "our data directory is empty and the cluster exists: cloning from leader " +
                      rec->holder + " (an initialized cluster is never initdb'd again)");
  }

  if (!local.running) {
    if (finished && finished->kind == TaskKind::kRewind && !finished->succeeded &&
        !finished->retryable) {
      b.Add(KeepDataDirAside{"pg_rewind failed: " + finished->error});
      m.needs_rewind = false;
      return b.Done(NodeState::kWaiting, failure +
                                             "keeping the data directory aside to clone afresh");
    }
    if (backing_off) return b.Done(NodeState::kStopped, failure + retry_text);
    if (rec && rec->released && rec->holder == me && local.was_primary) {
      const SwitchoverRecord* handover = HandoverInProgress(v);
      // Counted from when we saw our release (as the target and the others count it), not
      // from the decision to hand over: the checkpoint and the stop took part of it.
      if (handover != nullptr && m.handover_since != MonoTime{} &&
          leader.unchanged_for < o.settings.ttl) {
        return b.Done(NodeState::kStopped,
                      "handing the lease over to " + handover->to + " (switchover): waiting for it to "
                      "take over; we take the lease back if it has not within " +
                          FormatSeconds(o.settings.ttl));
      }
      // We stopped cleanly as the primary and nobody has taken the lease since: nobody else
      // can have been promoted, so we take it back (compare-and-swap) and start as before,
      // on the same timeline. A replica that received all of our WAL may win this race.
      b.Add(AcquireFrom(rec));
      if (handover != nullptr) b.Add(ClearSwitchover{});
      b.Add(Start{StartRole::kPrimary, std::nullopt});
      m.handover_since = MonoTime{};
      return b.Done(NodeState::kStarting,
                    (handover != nullptr ? "the switchover to " + handover->to + " did not happen; "
                                         : std::string()) +
                        "we released the lease cleanly at " + rec->lsn.ToString() +
                        " and nobody took it: taking it back and starting as the primary");
    }
    if (leader_is_me) {
      b.Add(RenewLease{rec->term});
      b.Add(Start{local.was_primary ? StartRole::kPrimary : StartRole::kReplica, std::nullopt});
      return b.Done(NodeState::kStarting,
                    "the leader lease names us (term " + std::to_string(rec->term) +
                        ") and PostgreSQL is down: renewing it and starting");
    }
    if (other_leader_valid) {
      auto ep = EndpointOf(v, rec->holder);
      if (!ep) {
        return b.Done(NodeState::kStopped,
                      "leader " + rec->holder + " has not published its address yet");
      }
      // pg_control still says "primary" after a rewind that found nothing to undo, so a rewind
      // that succeeded against this leader is not repeated: we start as its replica.
      if ((local.was_primary || m.needs_rewind) && m.rewound_term != rec->term) {
        // Tried once per leader term: should PostgreSQL refuse to follow after all, we rewind.
        if (!m.needs_rewind && m.clean_follow_term != rec->term) {
          if (auto continued = ContinuesCleanly(v, local, *rec)) {
            m.handover_since = MonoTime{};
            m.clean_follow_term = rec->term;
            b.Add(Start{StartRole::kReplica, *ep});
            return b.Done(NodeState::kStarting, *continued + ": starting as a replica of " +
                                                    rec->holder + " without pg_rewind");
          }
        }
        m.rewind_term = rec->term;
        b.Add(Rewind{*ep});
        return b.Done(NodeState::kRewinding,
                      std::string(local.was_primary ? "we were a primary"
                                                    : "our timeline diverged") +
                          " and " + rec->holder + " leads now: pg_rewind from it before following");
      }
      b.Add(Start{StartRole::kReplica, *ep});
      return b.Done(NodeState::kStarting, "starting as a replica of leader " + rec->holder);
    }
    b.Add(Start{StartRole::kReplica, std::nullopt});
    return b.Done(NodeState::kStarting,
                  std::string("no valid leader (lease ") + LeaderStatusName(leader.status) +
                      "): starting read-only to take part in the election");
  }

  if (!local.accepting) {
    if (m.lease) b.Add(RenewLease{m.lease->term});
    return b.Done(NodeState::kStarting,
                  "PostgreSQL is running but not accepting connections: " + local.connect_error);
  }

  if (!local.in_recovery) {
    // The fence in Decide guarantees we hold a provable lease here.
    b.Add(RenewLease{m.lease->term});
    if (local.timeline > 1 && HistoryFor(v.history, local.timeline) == nullptr) {
      b.Add(AppendHistory{HistoryEntry{local.timeline, local.timeline_switch_lsn, 0,
                                       m.previous_leader, me, m.lease->term, o.wall_now,
                                       m.promotion_reason.empty() ? std::string("promoted")
                                                                  : m.promotion_reason}});
    }
    std::vector<std::string> others = OtherMembers(v, me);
    if (!others.empty()) b.Add(EnsureSlots{others});
    std::string switchover_note;
    if (v.switchover) {
      const SwitchoverRecord& request = *v.switchover;
      if (request.from != me) {
        // Done (it names us) or stale (made to a leader that is gone): not ours to carry out.
        b.Add(ClearSwitchover{});
        switchover_note = request.to == me
                              ? (request.from.empty() ? std::string("; the operator's failover is done")
                                                      : "; the switchover from " + request.from + " is done")
                              : "; dropping a request for " + request.to + " that no longer applies";
      } else if (o.wall_now >= request.not_before) {
        if (auto why = WhySwitchoverRefused(request, v, local, o.settings.synchronous_mode)) {
          b.Add(ClearSwitchover{});
          return b.Done(NodeState::kPrimary, "holding the leader lease (term " +
                                                 std::to_string(m.lease->term) + "); switchover to " +
                                                 request.to + " refused: " + *why + " (request dropped)");
        }
        b.Add(Checkpoint{});
        b.Add(RenewLease{m.lease->term});  // the checkpoint may have taken a while
        b.Add(Stop{StopMode::kFast});
        b.Add(ReleaseLease{m.lease->term});
        m.handover_since = o.now;
        return b.Done(NodeState::kStopped,
                      "switchover to " + request.to + ": checkpoint, clean stop (streaming replicas "
                      "receive every byte), then the lease is released at our final position");
      } else {
        switchover_note = "; switchover to " + request.to + " scheduled for " +
                          FormatWallTime(request.not_before);
      }
    }
    std::string sync_note = AddSyncPlan(o, b);
    return b.Done(NodeState::kPrimary, "holding the leader lease (term " +
                                           std::to_string(m.lease->term) + ")" + switchover_note +
                                           sync_note);
  }
  return RunningReplica(o, b, leader);
}

}  // namespace

HaSettings WithDynamicConfig(HaSettings settings, const std::optional<DynamicConfig>& config) {
  if (!config) return settings;
  settings.paused = config->pause;
  if (config->maximum_lag_on_failover) settings.maximum_lag_on_failover = *config->maximum_lag_on_failover;
  if (config->synchronous_mode) settings.synchronous_mode = *config->synchronous_mode;
  if (config->synchronous_node_count) settings.synchronous_node_count = *config->synchronous_node_count;
  if (config->ttl) settings.ttl = *config->ttl;
  if (config->loop_wait) settings.loop_wait = *config->loop_wait;
  // A loop slower than half the ttl could not renew the lease in time.
  settings.loop_wait = std::min(settings.loop_wait, settings.ttl / 2);
  return settings;
}

namespace {

// A running instance whose pgpilot.conf lacks the store's cluster-wide parameters gets them (a
// reload), unless the decision stops it anyway.
Decision WithClusterParameters(const Observation& o, Decision d) {
  if (!o.view.ok() || !o.local.running || !o.local.accepting) return d;
  auto wanted = o.view->config ? o.view->config->parameters
                               : std::vector<std::pair<std::string, std::string>>{};
  if (wanted == o.local.cluster_parameters) return d;
  bool stops = std::any_of(d.actions.begin(), d.actions.end(),
                           [](const Action& a) { return std::holds_alternative<Stop>(a); });
  if (!stops) d.actions.push_back(SetParameters{std::move(wanted)});
  return d;
}

// Maintenance mode: the fence and the lease renewal go on, nothing else is done.
Decision Paused(const Observation& o, Builder& b) {
  const LocalState& local = o.local;
  AgentMemory& m = b.memory();
  if (m.lease && o.view.ok()) b.Add(RenewLease{m.lease->term});
  // A synchronous standby that fails must still leave the set, or every commit waits for it.
  std::string sync_note;
  if (m.lease && o.view.ok() && local.is_running_primary()) sync_note = AddSyncPlan(o, b);
  NodeState state = local.is_running_primary() ? NodeState::kPrimary
                    : local.is_running_replica() ? NodeState::kReplica
                    : local.running ? o.memory.state
                    : local.data_dir == DataDirKind::kValid ? NodeState::kStopped
                                                            : NodeState::kWaiting;
  std::string what = local.is_running_primary() ? "PostgreSQL runs as the primary"
                     : local.is_running_replica() ? "PostgreSQL runs as a replica"
                     : local.running ? "PostgreSQL runs but does not answer"
                                     : "PostgreSQL is down and stays down";
  return b.Done(state, "paused (maintenance): no failover, start, stop, rewind or clone until "
                       "`ctl resume`; " + what +
                           (m.lease ? "; we keep the leader lease" : std::string()) + sync_note);
}

// A tick with no operator request to carry out.
Decision Usual(const Observation& o, Builder& b, const std::optional<TaskState>& finished) {
  if (o.settings.paused) return WithClusterParameters(o, Paused(o, b));
  if (!o.view.ok()) return WhileStoreUnavailable(o, b);
  return WithClusterParameters(o, WithView(o, b, finished));
}

// An operator's request to us (`ctl restart`, `ctl reinit`): carried out in this decision, its
// entry removed from the store before PostgreSQL is touched (at most once); or refused, the
// refusal written for `ctl` to report, and the tick goes on as usual.
Decision WithRequest(const Observation& o, Builder& b, const MemberRequest& request,
                     const std::optional<TaskState>& finished) {
  const ClusterView& v = *o.view;
  const std::string& me = o.settings.member_name;
  AgentMemory& m = b.memory();
  std::optional<MemberEndpoint> leader;
  LeaderAssessment assessed = AssessLeader(m.leader, o.now);
  if (v.leader && v.leader->holder != me && !v.leader->released && assessed.status == LeaderStatus::kValid) {
    leader = EndpointOf(v, v.leader->holder);
  }
  bool in_sync_set = o.settings.synchronous_mode != SyncMode::kOff && v.sync &&
                     std::find(v.sync->members.begin(), v.sync->members.end(), me) != v.sync->members.end();
  const MemberStatus* leader_status = leader ? v.FindMember(leader->name) : nullptr;
  bool leader_serves = leader_status != nullptr && leader_status->role == "primary";
  RequestContext context{o.local,
                         m.lease ? std::optional<uint64_t>(m.lease->term) : std::nullopt,
                         leader,
                         leader_serves,
                         assessed.unchanged_for,
                         o.settings.loop_wait,
                         o.settings.paused,
                         in_sync_set};
  RequestPlan plan = PlanRequest(request, context);
  std::string what = DescribeRequest(request) + " requested by an operator";
  if (plan.refused) {
    Decision d = Usual(o, b, finished);
    if (auto refusal = SettleRequest(*v.requests, me, plan.refused)) d.actions.push_back(*refusal);
    d.reason += "; " + what + " refused: " + *plan.refused;
    return d;
  }
  if (m.lease) b.Add(RenewLease{m.lease->term});
  if (auto done = SettleRequest(*v.requests, me, std::nullopt)) b.Add(*done);
  for (Action& action : plan.actions) b.Add(std::move(action));
  return b.Done(plan.next, plan.reason);
}

}  // namespace

Decision Decide(const Observation& observed) {
  // The cluster-wide settings of the store (or, while it is unreachable, as last seen).
  std::optional<DynamicConfig> config =
      observed.view.ok() ? observed.view->config : observed.memory.config;
  Observation adjusted;
  bool dynamic = config.has_value();
  if (dynamic) {
    adjusted = observed;
    adjusted.settings = WithDynamicConfig(observed.settings, config);
  }
  const Observation& o = dynamic ? adjusted : observed;
  Builder b(o);
  AgentMemory& m = b.memory();
  const LocalState& local = o.local;
  m.config = config;

  if (o.view.ok()) m.leader = TrackLeader(m.leader, o.view->leader, o.now);

  // The fence comes first: PostgreSQL that may accept writes without a lease we can prove is
  // stopped at once, whatever else is going on (invariant 1: at most one writable primary).
  std::optional<std::string> unprovable = WhyLeaseUnprovable(o);
  if (unprovable) m.lease.reset();

  std::optional<TaskState> finished;
  if (!local.task.running && local.task.sequence > m.task_sequence_seen) {
    m.task_sequence_seen = local.task.sequence;
    finished = local.task;
    if (!local.task.succeeded) {
      m.retry_after = o.now + kTaskRetryBackoff;
    } else if (local.task.kind == TaskKind::kBootstrap) {
      m.bootstrap_done = true;
    } else if (local.task.kind == TaskKind::kRewind || local.task.kind == TaskKind::kClone) {
      m.needs_rewind = false;
      if (local.task.kind == TaskKind::kRewind) m.rewound_term = m.rewind_term;
    }
  }

  if (local.may_accept_writes() && unprovable) {
    b.Add(Stop{StopMode::kImmediate});
    return b.Done(NodeState::kDemoting,
                  "PostgreSQL may accept writes but " + *unprovable + ": stopped it immediately");
  }

  if (local.task.running) {
    if (m.lease && o.view.ok()) b.Add(RenewLease{m.lease->term});
    return b.Done(StateOfTask(local.task.kind),
                  std::string(TaskKindName(local.task.kind)) + " in progress" +
                      (o.view.ok() ? std::string() : "; store unreachable"));
  }
  if (o.view.ok() && o.view->requests) {
    const MemberRequest* request = o.view->requests->For(o.settings.member_name);
    if (request != nullptr && request->refused.empty()) return WithRequest(o, b, *request, finished);
  }
  return Usual(o, b, finished);
}

OwnLease LeaseGranted(const LeaseOutcome& granted) {
  return OwnLease{granted.record.term, granted.record.revision, granted.sent_at, granted.record.ttl};
}

AgentMemory ApplyLeaseOutcome(AgentMemory memory, const LeaseOutcome& outcome) {
  if (outcome.granted) {
    memory.lease = LeaseGranted(outcome);
  } else {
    memory.lease.reset();
  }
  return memory;
}

WatchdogOrder WatchdogAfterTick(const AgentMemory& memory, bool stopped_postgres,
                                const LocalState& observed) {
  if (memory.lease) return {WatchdogOrder::kArm, WatchdogDeadline(*memory.lease)};
  // A start (or bootstrap) launched under a lease we no longer hold may still bring PostgreSQL
  // up writable.
  bool starting = observed.task.running && (observed.task.kind == TaskKind::kStart ||
                                            observed.task.kind == TaskKind::kBootstrap);
  if (starting) return {WatchdogOrder::kKeep, MonoTime{}};
  if (stopped_postgres || !observed.may_accept_writes()) return {WatchdogOrder::kDisarm, MonoTime{}};
  return {WatchdogOrder::kKeep, MonoTime{}};
}

MonoTime NextWakeup(const AgentMemory& memory, MonoTime now, Duration loop_wait) {
  MonoTime next = now + loop_wait;
  if (memory.lease) next = std::min(next, OwnLeaseDeadline(*memory.lease));
  return next;
}

std::string Explain(NodeState from, const Decision& d) {
  std::string line = std::string("decision ") + NodeStateName(from) + "->" + NodeStateName(d.next) +
                     " reason=\"" + d.reason + "\"";
  if (!d.actions.empty()) {
    line += " actions=[";
    for (size_t i = 0; i < d.actions.size(); ++i) {
      if (i > 0) line += ", ";
      line += DescribeAction(d.actions[i]);
    }
    line += "]";
  }
  return line;
}

}  // namespace pgpilot
