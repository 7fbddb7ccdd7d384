#include "core/decide.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <functional>
#include <set>
#include <string>
#include <vector>

namespace pgpilot {
namespace {

using ::testing::HasSubstr;

constexpr char kSys[] = "7301234567890123456";
constexpr char kOtherSys[] = "7309876543210987654";
constexpr uint64_t kMiB = 1024 * 1024;
const Duration kTtl = Duration(10000);
const MonoTime kNow = MonoTime{} + Duration(3'600'000);  // an hour after boot
const Duration kFresh = Duration(1000);                   // a record seen changing a second ago

// Members pg-0, pg-1, pg-2 publish PostgreSQL at 10.0.0.10, .11, .12, port 5432.
std::string HostOf(const std::string& name) { return "10.0.0.1" + name.substr(name.size() - 1); }
std::string AddrOf(const std::string& name) { return HostOf(name) + ":5432"; }

MemberStatus Member(const std::string& name) {
  MemberStatus m;
  m.name = name;
  m.role = "replica";
  m.host = HostOf(name);
  m.port = 5432;
  m.api_url = "http://" + HostOf(name) + ":8008";
  return m;
}

LeaderRecord Lease(std::string holder, uint64_t term, uint64_t revision, uint64_t lsn = 0x5000000,
                   Timeline timeline = 1) {
  LeaderRecord r;
  r.holder = std::move(holder);
  r.term = term;
  r.ttl = kTtl;
  r.lsn = Lsn{lsn};
  r.timeline = timeline;
  r.revision = revision;
  return r;
}

LeaderRecord Released(std::string holder, uint64_t term, uint64_t revision, uint64_t lsn = 0x5000000,
                      Timeline timeline = 1) {
  LeaderRecord r = Lease(std::move(holder), term, revision, lsn, timeline);
  r.released = true;
  return r;
}

// Another member's position as its API reports it.
Candidate Peer(std::string name, Timeline timeline, uint64_t lsn) {
  return {.name = std::move(name), .reachable = true, .running_replica = true, .timeline = timeline,
          .wal_position = Lsn{lsn}};
}

Candidate Unreachable(Candidate c) {
  c.reachable = false;
  c.error = "connection refused";
  return c;
}

Candidate NoFailoverPeer(Candidate c) {
  c.nofailover = true;
  return c;
}

// One observation, built from a realistic default: an initialized cluster (system kSys, bootstrapped
// by pg-0) whose members pg-0..pg-2 are published, no leader record, and this member's valid data
// directory with PostgreSQL stopped.
class Obs {
 public:
  explicit Obs(std::string me, NodeState state) {
    o_.settings.member_name = std::move(me);
    o_.settings.ttl = kTtl;
    o_.settings.loop_wait = Duration(1000);
    o_.settings.maximum_lag_on_failover = kMiB;
    ClusterView v;
    v.initialize = InitializeRecord{"pg-0", kSys};
    v.members = {Member("pg-0"), Member("pg-1"), Member("pg-2")};
    o_.view = v;
    o_.local.data_dir = DataDirKind::kValid;
    o_.local.system_id = kSys;
    o_.local.timeline = 1;
    o_.memory.state = state;
    o_.now = kNow;
    o_.wall_now = WallTime{1'700'000'000'000};
  }

  // ---- the store ----
  Obs& NotInitialized() { return View([](ClusterView& v) { v.initialize.reset(); }); }
  Obs& ClaimedBy(const std::string& name) {
    return View([&](ClusterView& v) { v.initialize = InitializeRecord{name, ""}; });
  }
  Obs& InitializedBy(const std::string& name) {
    return View([&](ClusterView& v) { v.initialize = InitializeRecord{name, kSys}; });
  }
  // The leader record, first seen `seen_for` ago with this revision (0: this tick).
  Obs& Leader(const LeaderRecord& r, Duration seen_for = Duration(0)) {
    View([&](ClusterView& v) { v.leader = r; });
    o_.memory.leader = LeaderSighting{r, kNow - seen_for};
    return *this;
  }
  Obs& WithoutMember(const std::string& name) {
    return View([&](ClusterView& v) {
      std::erase_if(v.members, [&](const MemberStatus& m) { return m.name == name; });
    });
  }
  Obs& History(Timeline timeline, uint64_t switch_lsn, std::string old_leader, std::string new_leader,
              Timeline parent = 0) {
    return View([&](ClusterView& v) {
      HistoryEntry h;
      h.timeline = timeline;
      h.parent = parent;
      h.switch_lsn = Lsn{switch_lsn};
      h.old_leader = old_leader;
      h.new_leader = new_leader;
      v.history.push_back(h);
    });
  }
  Obs& StoreDown(const std::string& why = "connection refused") {
    o_.view = Unavailable(why);
    return *this;
  }

  // ---- the local instance ----
  Obs& DataDir(DataDirKind kind, std::string detail = "") {
    o_.local.data_dir = kind;
    o_.local.data_dir_detail = std::move(detail);
    if (kind != DataDirKind::kValid) {
      o_.local.system_id.clear();
      o_.local.timeline = 0;
    }
    return *this;
  }
  Obs& SystemId(std::string id) {
    o_.local.system_id = std::move(id);
    return *this;
  }
  Obs& Stopped(bool was_primary = false) {
    o_.local.running = false;
    o_.local.accepting = false;
    o_.local.was_primary = was_primary;
    o_.local.standby_signal = !was_primary;
    return *this;
  }
  // Running in recovery, streaming from `upstream` (a member name; "" for none).
  Obs& Replica(Timeline timeline, uint64_t lsn, const std::string& upstream) {
    o_.local.running = true;
    o_.local.accepting = true;
    o_.local.in_recovery = true;
    o_.local.standby_signal = true;
    o_.local.postgres_pid = 4321;
    o_.local.timeline = timeline;
    o_.local.wal_position = Lsn{lsn};
    o_.local.replayed = Lsn{lsn};
    o_.local.upstream = upstream.empty() ? "" : AddrOf(upstream);
    o_.local.streaming = !upstream.empty();
    return *this;
  }
  Obs& Primary(Timeline timeline, uint64_t lsn) {
    o_.local.running = true;
    o_.local.accepting = true;
    o_.local.in_recovery = false;
    o_.local.standby_signal = false;
    o_.local.was_primary = true;
    o_.local.postgres_pid = 4321;
    o_.local.timeline = timeline;
    o_.local.wal_position = Lsn{lsn};
    return *this;
  }
  // A postmaster that does not answer; `standby_signal` says whether it would start in recovery.
  Obs& NotAccepting(bool standby_signal) {
    o_.local.running = true;
    o_.local.accepting = false;
    o_.local.in_recovery = false;
    o_.local.standby_signal = standby_signal;
    o_.local.connect_error = "the database system is starting up";
    return *this;
  }
  Obs& Task(TaskKind kind, bool running, uint64_t sequence, bool succeeded = true,
            std::string error = "") {
    o_.local.task = TaskState{kind, running, sequence, succeeded, std::move(error)};
    return *this;
  }
  Obs& Local(const std::function<void(LocalState&)>& f) {
    f(o_.local);
    return *this;
  }

  // ---- the agent ----
  // Our own lease, its last successful renewal sent `sent_ago` before now.
  Obs& OwnLease(uint64_t term, uint64_t revision, Duration sent_ago) {
    o_.memory.lease = pgpilot::OwnLease{term, revision, kNow - sent_ago, kTtl};
    return *this;
  }
  Obs& Memory(const std::function<void(AgentMemory&)>& f) {
    f(o_.memory);
    return *this;
  }
  Obs& NoFailover() {
    o_.settings.tags.nofailover = true;
    return *this;
  }
  Obs& Synchronous(SyncMode mode = SyncMode::kOn, int count = 1) {
    o_.settings.synchronous_mode = mode;
    o_.settings.synchronous_node_count = count;
    return *this;
  }
  Obs& Sync(std::string leader, std::vector<std::string> members, uint64_t revision) {
    return View([&](ClusterView& v) { v.sync = SyncRecord{leader, members, revision}; });
  }
  Obs& Peers(std::vector<Candidate> peers) {
    o_.peers_collected = true;
    o_.peers = std::move(peers);
    return *this;
  }

  Obs& View(const std::function<void(ClusterView&)>& f) {
    f(*o_.view);
    return *this;
  }

  operator Observation() const { return o_; }  // NOLINT: the table reads better without calls

 private:
  Observation o_;
};

template <class... Ts>
struct Overloaded : Ts... {
  using Ts::operator()...;
};
template <class... Ts>
Overloaded(Ts...) -> Overloaded<Ts...>;

std::string Endpoint(const MemberEndpoint& ep) {
  return ep.name + "@" + ep.host + ":" + std::to_string(ep.port);
}

// The action's type and the fields that matter, independent of the production log format.
std::string Summary(const Action& action) {
  return std::visit(
      Overloaded{
          [](const ClaimInitialize& a) { return "claim_initialize(" + a.system_id + ")"; },
          [](const CompleteInitialize& a) { return "complete_initialize(" + a.system_id + ")"; },
          [](const AbandonInitialize&) { return std::string("abandon_initialize"); },
          [](const AcquireLease& a) {
            return a.expect_absent ? std::string("acquire_lease(absent)")
                                   : "acquire_lease(rev " + std::to_string(a.expected_revision) + ")";
          },
          [](const RenewLease& a) { return "renew_lease(term " + std::to_string(a.term) + ")"; },
          [](const AppendHistory& a) { return "append_history(tl " + std::to_string(a.entry.timeline) + ")"; },
          [](const struct Bootstrap&) { return std::string("bootstrap"); },
          [](const Clone& a) { return "clone(" + Endpoint(a.source) + ")"; },
          [](const Rewind& a) { return "rewind(" + Endpoint(a.source) + ")"; },
          [](const Start& a) {
            if (a.role == StartRole::kPrimary) {
              return std::string(a.upstream ? "start(primary, with upstream!)" : "start(primary)");
            }
            return a.upstream ? "start(replica of " + Endpoint(*a.upstream) + ")" : std::string("start(replica)");
          },
          [](const Stop& a) {
            return std::string(a.mode == StopMode::kImmediate ? "stop(immediate)" : "stop(fast)");
          },
          [](const Promote& a) { return "promote(tl " + std::to_string(a.timeline) + ")"; },
          [](const Follow& a) { return a.upstream ? "follow(" + Endpoint(*a.upstream) + ")" : std::string("follow()"); },
          [](const EnsureSlots& a) {
            std::string out = "ensure_slots(";
            for (size_t i = 0; i < a.members.size(); ++i) out += (i ? "," : "") + a.members[i];
            return out + ")";
          },
          [](const ReleaseLease& a) { return "release_lease(term " + std::to_string(a.term) + ")"; },
          [](const ClearSwitchover&) { return std::string("clear_switchover"); },
          [](const Checkpoint&) { return std::string("checkpoint"); },
          [](const SetParameters& a) {
            std::string out = "set_parameters(";
            for (size_t i = 0; i < a.parameters.size(); ++i) {
              out += (i ? "," : "") + a.parameters[i].first + "=" + a.parameters[i].second;
            }
            return out + ")";
          },
          [](const WriteSync& a) {
            std::string out = "write_sync(" + a.record.leader + ":";
            for (size_t i = 0; i < a.record.members.size(); ++i) out += (i ? "," : "") + a.record.members[i];
            return out + (a.expect_absent ? std::string(", absent)")
                                          : ", rev " + std::to_string(a.expected_revision) + ")");
          },
          [](const WriteRequests& a) {
            std::string out = "write_requests(";
            for (size_t i = 0; i < a.record.requests.size(); ++i) {
              const MemberRequest& r = a.record.requests[i];
              out += (i ? "," : "") + r.member + (r.refused.empty() ? "" : " refused");
            }
            return out + ", rev " + std::to_string(a.expected_revision) + ")";
          },
          [](const SetSyncStandbys& a) {
            std::string out = "set_sync_standbys(";
            for (size_t i = 0; i < a.names.size(); ++i) out += (i ? "," : "") + a.names[i];
            return out + (a.commit_fence ? " + fence)" : ")");
          },
          [](const KeepDataDirAside&) { return std::string("keep_data_dir_aside"); },
      },
      action);
}

std::vector<std::string> Summaries(const std::vector<Action>& actions) {
  std::vector<std::string> out;
  for (const auto& a : actions) out.push_back(Summary(a));
  return out;
}

std::string Ep(const std::string& name) { return name + "@" + AddrOf(name); }

// ---- the table -------------------------------------------------------------------------------

struct Case {
  Case(std::string name, Observation in, NodeState next, std::vector<std::string> actions,
       std::vector<std::string> because, bool needs_peers = false,
       std::function<void(const Decision&)> also = {})
      : name(std::move(name)), in(std::move(in)), next(next), actions(std::move(actions)),
        because(std::move(because)), needs_peers(needs_peers), also(std::move(also)) {}

  std::string name;
  Observation in;
  NodeState next;
  std::vector<std::string> actions;  // Summary() of each action, in order
  std::vector<std::string> because;  // the reason names the cause: each of these appears in it
  bool needs_peers = false;
  std::function<void(const Decision&)> also;  // further checks, when the row needs them
};

std::ostream& operator<<(std::ostream& os, const Case& c) { return os << c.name; }

using N = NodeState;
using D = DataDirKind;
using T = TaskKind;
using V = std::vector<std::string>;

std::vector<Case> Situations() {
  return {
      // ---- bootstrap of a fresh cluster ----
      {"FreshClusterEmptyDirClaimsTheBootstrap",
       Obs("pg-0", N::kInit).NotInitialized().DataDir(D::kEmpty), N::kBootstrapping,
       V{"claim_initialize()", "acquire_lease(absent)", "bootstrap"},
       V{"not initialized", "empty", "claiming the bootstrap"}},
      {"FreshClusterMissingDirClaimsTheBootstrap",
       Obs("pg-0", N::kWaiting).NotInitialized().DataDir(D::kMissing), N::kBootstrapping,
       V{"claim_initialize()", "acquire_lease(absent)", "bootstrap"}, V{"not initialized"}},
      {"FreshClusterWaitsForAStaleLeaseBeforeBootstrapping",
       Obs("pg-0", N::kInit).NotInitialized().DataDir(D::kEmpty)
           .Leader(Lease("pg-2", 1, 9, 0, /*timeline=*/0), Duration(2000)),
       N::kWaiting, V{}, V{"stale lease of pg-2"}},
      {"FreshClusterExpiredStaleLeaseIsTakenWithTheClaim",
       Obs("pg-0", N::kWaiting).NotInitialized().DataDir(D::kEmpty)
           .Leader(Lease("pg-2", 1, 9, 0, /*timeline=*/0), kTtl),
       N::kBootstrapping, V{"claim_initialize()", "acquire_lease(rev 9)", "bootstrap"}, V{"initdb"}},
      // The initialize key is gone but the cluster holds data somewhere: never a second initdb.
      {"InitializeKeyLostWithHistoryWaits",
       Obs("pg-0", N::kWaiting).NotInitialized().DataDir(D::kEmpty).History(2, 0x3000000, "pg-1", "pg-2"),
       N::kWaiting, V{}, V{"cluster exists", "history"}},
      {"InitializeKeyLostWithAnExpiredLeaderOnATimelineWaits",
       Obs("pg-0", N::kWaiting).NotInitialized().DataDir(D::kEmpty).Leader(Lease("pg-2", 4, 9), kTtl),
       N::kWaiting, V{}, V{"cluster exists", "pg-2", "timeline 1"}},
      {"InitializeKeyLostWhileAnotherMemberPublishesDataWaits",
       Obs("pg-0", N::kWaiting).NotInitialized().DataDir(D::kEmpty).View([](ClusterView& v) {
         for (auto& m : v.members) {
           if (m.name == "pg-1") m.timeline = 3;
         }
       }),
       N::kWaiting, V{}, V{"cluster exists", "pg-1 publishes data on timeline 3"}},
      {"InitializeClaimLostWaitsForTheWinner",
       Obs("pg-1", N::kInit).ClaimedBy("pg-0").DataDir(D::kEmpty), N::kWaiting, V{},
       V{"pg-0 is bootstrapping"}},
      {"InitializeClaimLostDoesNotCloneBeforeTheClusterIsComplete",
       Obs("pg-1", N::kWaiting).ClaimedBy("pg-0").DataDir(D::kEmpty).Leader(Lease("pg-0", 1, 2), kFresh),
       N::kWaiting, V{}, V{"pg-0 is bootstrapping"}},
      {"InitializeClaimWonTakesTheLeaseAndBootstraps",
       Obs("pg-0", N::kWaiting).ClaimedBy("pg-0").DataDir(D::kEmpty), N::kBootstrapping,
       V{"acquire_lease(absent)", "bootstrap"}, V{"bootstrap claim is not complete"}},
      {"BootstrapRunningKeepsRenewing",
       Obs("pg-0", N::kBootstrapping).ClaimedBy("pg-0").Primary(1, 0x1000000)
           .Leader(Lease("pg-0", 1, 3), kFresh).OwnLease(1, 3, kFresh).Task(T::kBootstrap, true, 1),
       N::kBootstrapping, V{"renew_lease(term 1)"}, V{"bootstrap in progress"}},
      {"BootstrapDoneCompletesInitializeOncePrimaryRuns",
       Obs("pg-0", N::kBootstrapping).ClaimedBy("pg-0").Primary(1, 0x1000000)
           .Leader(Lease("pg-0", 1, 4), kFresh).OwnLease(1, 4, kFresh).Task(T::kBootstrap, false, 1),
       N::kPrimary, V{"renew_lease(term 1)", std::string("complete_initialize(") + kSys + ")"},
       V{"bootstrap finished", kSys},
       false,
       [](const Decision& d) {
         EXPECT_TRUE(d.memory.bootstrap_done);
         EXPECT_EQ(d.memory.task_sequence_seen, 1u) << "a task result is acted on once";
       }},
      {"BootstrapDoneButPrimaryNotAcceptingDoesNotCompleteYet",
       Obs("pg-0", N::kBootstrapping).ClaimedBy("pg-0").NotAccepting(false)
           .Leader(Lease("pg-0", 1, 4), kFresh).OwnLease(1, 4, kFresh).Task(T::kBootstrap, false, 1),
       N::kBootstrapping, V{"renew_lease(term 1)", "bootstrap"}, V{"idempotent"}},
      {"BootstrapFailedDropsTheClaimAndBlocks",
       Obs("pg-0", N::kBootstrapping).ClaimedBy("pg-0").DataDir(D::kEmpty)
           .Leader(Lease("pg-0", 1, 4), kFresh).OwnLease(1, 4, kFresh)
           .Task(T::kBootstrap, false, 1, false, "initdb failed (exit 1): could not access directory"),
       N::kBlocked, V{"abandon_initialize"}, V{"bootstrap failed", "could not access directory"},
       false, [](const Decision& d) { EXPECT_FALSE(d.memory.blocked.empty()); }},
      {"ExistingDataDirectoryRegistersItsSystemIdentifier",
       Obs("pg-0", N::kInit).NotInitialized().Stopped(), N::kWaiting,
       V{std::string("claim_initialize(") + kSys + ")"}, V{"no initialize key", kSys}},
      {"InitializeKeyGoneWhilePrimaryKeepsRenewingAndRegisters",
       Obs("pg-0", N::kPrimary).NotInitialized().Primary(1, 0x5000000).Leader(Lease("pg-0", 3, 20), kFresh)
           .OwnLease(3, 20, kFresh),
       N::kPrimary, V{"renew_lease(term 3)", std::string("claim_initialize(") + kSys + ")"},
       V{"no initialize key", kSys}},
      {"InitializeKeyGoneWhileReplicaKeepsItsState",
       Obs("pg-1", N::kReplica).NotInitialized().Replica(1, 0x5000000, "pg-0").Leader(Lease("pg-0", 3, 20), kFresh),
       N::kReplica, V{std::string("claim_initialize(") + kSys + ")"}, V{"no initialize key"}},
      {"InitializeKeyGoneAtStartupRunningReplicaIsAReplica",
       Obs("pg-1", N::kInit).NotInitialized().Replica(1, 0x5000000, "pg-0"), N::kReplica,
       V{std::string("claim_initialize(") + kSys + ")"}, V{"no initialize key"}},
      {"InitializeKeyGoneStoppedWaits",
       Obs("pg-1", N::kStopped).NotInitialized().Stopped(), N::kWaiting,
       V{std::string("claim_initialize(") + kSys + ")"}, V{"no initialize key"}},
      {"OpenBootstrapClaimWithReadOnlyInstanceStopsItToFinish",
       Obs("pg-0", N::kReplica).ClaimedBy("pg-0").Replica(1, 0x1000000, "").Leader(Lease("pg-0", 1, 4), kFresh)
           .Memory([](AgentMemory& m) { m.bootstrap_done = true; }),
       N::kStopped, V{"stop(fast)"}, V{"bootstrap is not complete", "read-only"}},
      {"OpenBootstrapClaimAfterTheFenceResumesTheBootstrap",
       Obs("pg-0", N::kDemoting).ClaimedBy("pg-0").Stopped(true).Leader(Lease("pg-0", 1, 4), kFresh)
           .Memory([](AgentMemory& m) { m.bootstrap_done = true; }),
       N::kBootstrapping, V{"acquire_lease(rev 4)", "bootstrap"}, V{"idempotent"}},

      // ---- an empty data directory in an initialized cluster ----
      {"EmptyDataDirClonesFromTheLeader",
       Obs("pg-1", N::kWaiting).DataDir(D::kEmpty).Leader(Lease("pg-0", 2, 7), kFresh), N::kCloning,
       V{"clone(" + Ep("pg-0") + ")"}, V{"cloning from leader pg-0", "never initdb'd"}},
      {"MissingDataDirClonesFromTheLeader",
       Obs("pg-2", N::kInit).DataDir(D::kMissing).Leader(Lease("pg-0", 2, 7)), N::kCloning,
       V{"clone(" + Ep("pg-0") + ")"}, V{"cloning from leader pg-0"}},
      {"EmptyDataDirWithoutLeaderWaits",
       Obs("pg-1", N::kInit).DataDir(D::kEmpty), N::kWaiting, V{}, V{"no leader to clone from"}},
      {"EmptyDataDirWithExpiredLeaderWaits",
       Obs("pg-1", N::kWaiting).DataDir(D::kEmpty).Leader(Lease("pg-0", 2, 7), kTtl), N::kWaiting, V{},
       V{"no leader to clone from", "expired"}},
      {"LostVolumeOfTheBootstrapMemberWaitsInsteadOfInitdb",
       Obs("pg-0", N::kInit).InitializedBy("pg-0").DataDir(D::kEmpty), N::kWaiting, V{},
       V{"no leader to clone from"}},
      {"LostVolumeWhileOurOwnLeaseIsStillInTheStoreWaits",
       Obs("pg-0", N::kInit).InitializedBy("pg-0").DataDir(D::kMissing).Leader(Lease("pg-0", 3, 20)),
       N::kWaiting, V{}, V{"no leader to clone from"}},
      {"EmptyDataDirLeaderWithoutAddressWaits",
       Obs("pg-1", N::kWaiting).DataDir(D::kEmpty).Leader(Lease("pg-0", 2, 7), kFresh).WithoutMember("pg-0"),
       N::kWaiting, V{}, V{"pg-0 has not published its address"}},
      {"CloneRunningDoesNotTouchThePartialDirectory",
       Obs("pg-1", N::kCloning).DataDir(D::kIncomplete).Leader(Lease("pg-0", 2, 7), kFresh)
           .Task(T::kClone, true, 1),
       N::kCloning, V{}, V{"clone in progress"}},
      {"CloneFailedBacksOff",
       Obs("pg-1", N::kCloning).DataDir(D::kEmpty).Leader(Lease("pg-0", 2, 7), kFresh)
           .Task(T::kClone, false, 1, false, "pg_basebackup from pg-0 failed"),
       N::kWaiting, V{}, V{"clone failed", "pg_basebackup from pg-0 failed", "retrying"},
       false, [](const Decision& d) { EXPECT_GT(d.memory.retry_after, kNow); }},
      {"InterruptedCloneIsKeptAsideNotDeleted",
       Obs("pg-1", N::kInit).DataDir(D::kIncomplete).Leader(Lease("pg-0", 2, 7), kFresh), N::kWaiting,
       V{"keep_data_dir_aside"}, V{"interrupted"}},

      // ---- the primary and its lease ----
      {"PrimaryRenewsItsLease",
       Obs("pg-0", N::kPrimary).Primary(1, 0x5000000).Leader(Lease("pg-0", 3, 20), kFresh)
           .OwnLease(3, 20, kFresh),
       N::kPrimary, V{"renew_lease(term 3)", "ensure_slots(pg-1,pg-2)"}, V{"holding the leader lease (term 3)"}},
      {"NewPrimaryRecordsItsTimelineSwitch",
       Obs("pg-1", N::kPromoting).Primary(2, 0x5000100).Leader(Lease("pg-1", 4, 30), Duration(0))
           .OwnLease(4, 30, Duration(500))
           .Local([](LocalState& l) { l.timeline_switch_lsn = Lsn{0x5000000}; })
           .Memory([](AgentMemory& m) {
             m.previous_leader = "pg-0";
             m.promotion_reason = "the lease of pg-0 expired";
           }),
       N::kPrimary, V{"renew_lease(term 4)", "append_history(tl 2)", "ensure_slots(pg-0,pg-2)"},
       V{"holding the leader lease (term 4)"}, false,
       [](const Decision& d) {
         const auto& h = std::get<AppendHistory>(d.actions[1]).entry;
         EXPECT_EQ(h.switch_lsn, Lsn{0x5000000});
         EXPECT_EQ(h.old_leader, "pg-0");
         EXPECT_EQ(h.new_leader, "pg-1");
         EXPECT_EQ(h.term, 4u);
         EXPECT_THAT(h.reason, HasSubstr("expired"));
       }},
      {"PrimaryWithRecordedTimelineDoesNotRepeatHistory",
       Obs("pg-1", N::kPrimary).Primary(2, 0x6000000).Leader(Lease("pg-1", 4, 31), kFresh)
           .OwnLease(4, 31, kFresh).History(2, 0x5000000, "pg-0", "pg-1"),
       N::kPrimary, V{"renew_lease(term 4)", "ensure_slots(pg-0,pg-2)"}, V{"holding the leader lease"}},
      {"FenceOwnDeadlinePassedStopsImmediately",
       Obs("pg-0", N::kPrimary).Primary(1, 0x5000000).Leader(Lease("pg-0", 3, 20), Duration(8000))
           .OwnLease(3, 20, Duration(8000)),
       N::kDemoting, V{"stop(immediate)"}, V{"may accept writes", "sent 8.0s ago", "stopped it immediately"},
       false, [](const Decision& d) { EXPECT_FALSE(d.memory.lease.has_value()); }},
      {"FenceStoreUnavailablePastTheDeadline",
       Obs("pg-0", N::kPrimary).Primary(1, 0x5000000).OwnLease(3, 20, Duration(9000))
           .StoreDown("etcd: deadline exceeded"),
       N::kDemoting, V{"stop(immediate)"}, V{"store unreachable", "etcd: deadline exceeded"},
       false, [](const Decision& d) { EXPECT_FALSE(d.memory.lease.has_value()); }},
      {"StoreUnavailableWithinTheLeaseKeepsThePrimary",
       Obs("pg-0", N::kPrimary).Primary(1, 0x5000000).OwnLease(3, 20, Duration(3000)).StoreDown(),
       N::kPrimary, V{}, V{"store unreachable", "stop accepting writes"},
       false, [](const Decision& d) { EXPECT_TRUE(d.memory.lease.has_value()); }},
      {"FenceLeaseTakenByAnotherMember",
       Obs("pg-0", N::kPrimary).Primary(1, 0x5000000).Leader(Lease("pg-2", 4, 25), kFresh)
           .OwnLease(3, 20, kFresh),
       N::kDemoting, V{"stop(immediate)"}, V{"held by pg-2"}},
      {"FenceLeaseTermChanged",
       Obs("pg-0", N::kPrimary).Primary(1, 0x5000000).Leader(Lease("pg-0", 5, 25), kFresh)
           .OwnLease(3, 20, kFresh),
       N::kDemoting, V{"stop(immediate)"}, V{"term changed to 5"}},
      {"FenceLeaderRecordGone",
       Obs("pg-0", N::kPrimary).Primary(1, 0x5000000).OwnLease(3, 20, kFresh), N::kDemoting,
       V{"stop(immediate)"}, V{"gone from the store"}},
      {"FenceWritableInstanceFoundAtStartup",
       Obs("pg-0", N::kInit).Primary(1, 0x5000000).Leader(Lease("pg-0", 3, 20)), N::kDemoting,
       V{"stop(immediate)"}, V{"we hold no leader lease"}},
      {"FenceUnqueryableInstanceWithoutStandbySignal",
       Obs("pg-1", N::kStarting).NotAccepting(false).Leader(Lease("pg-0", 3, 20), kFresh), N::kDemoting,
       V{"stop(immediate)"}, V{"held by pg-0"}},
      {"UnqueryableInstanceWithStandbySignalIsLeftStarting",
       Obs("pg-1", N::kStarting).NotAccepting(true).Leader(Lease("pg-0", 3, 20), kFresh), N::kStarting,
       V{}, V{"not accepting connections", "starting up"}},

      // ---- replicas following a leader ----
      {"ReplicaStreamsFromTheLeader",
       Obs("pg-1", N::kReplica).Replica(1, 0x5000000, "pg-0").Leader(Lease("pg-0", 2, 7), Duration(3000)),
       N::kReplica, V{}, V{"streaming from leader pg-0"}},
      {"ReplicaOfAnotherUpstreamFollowsTheLeader",
       Obs("pg-1", N::kReplica).Replica(1, 0x5000000, "pg-2").Leader(Lease("pg-0", 2, 7), kFresh),
       N::kReplica, V{"follow(" + Ep("pg-0") + ")"}, V{"following leader pg-0", "was " + AddrOf("pg-2")}},
      {"ReplicaWithoutUpstreamFollowsTheLeader",
       Obs("pg-2", N::kStarting).Replica(1, 0x5000000, "").Leader(Lease("pg-0", 2, 7), kFresh),
       N::kReplica, V{"follow(" + Ep("pg-0") + ")"}, V{"following leader pg-0"}},
      {"StoppedReplicaStartsFollowingTheLeader",
       Obs("pg-1", N::kStopped).Stopped().Leader(Lease("pg-0", 2, 7), kFresh), N::kStarting,
       V{"start(replica of " + Ep("pg-0") + ")"}, V{"replica of leader pg-0"}},
      {"StoppedWithoutLeaderStartsReadOnlyForTheElection",
       Obs("pg-1", N::kInit).Stopped(), N::kStarting, V{"start(replica)"}, V{"no valid leader"}},
      {"StoreUnavailableStoppedStartsReadOnly",
       Obs("pg-1", N::kStopped).Stopped().StoreDown(), N::kStarting, V{"start(replica)"},
       V{"store unreachable", "read-only"}},
      {"StoreUnavailableReplicaKeepsServingReads",
       Obs("pg-1", N::kReplica).Replica(1, 0x5000000, "pg-0").StoreDown(), N::kReplica, V{},
       V{"store unreachable", "reads"}},
      {"StoreUnavailableEmptyDirWaits",
       Obs("pg-1", N::kWaiting).DataDir(D::kEmpty).StoreDown(), N::kWaiting, V{}, V{"store unreachable"}},
      {"StoreUnavailableMidPromotionStaysPromoting",
       Obs("pg-1", N::kPromoting).Replica(1, 0x5000000, "pg-0").OwnLease(3, 9, kFresh).StoreDown(),
       N::kPromoting, V{}, V{"store unreachable", "promotion goes on"},
       false, [](const Decision& d) { EXPECT_TRUE(d.memory.lease.has_value()); }},
      {"StoreUnavailableMidPromotionPrimaryFollowsFromPromoting",
       Obs("pg-1", N::kPromoting).Primary(2, 0x5000100).OwnLease(3, 9, kFresh).StoreDown(), N::kPrimary, V{},
       V{"store unreachable", "stop accepting writes"}},
      {"StoreUnavailableAfterFailedBootstrapStaysBlocked",
       Obs("pg-0", N::kBlocked).Primary(1, 0x1000000).OwnLease(1, 4, kFresh).StoreDown()
           .Memory([](AgentMemory& m) { m.blocked = "bootstrap failed: initdb failed"; }),
       N::kBlocked, V{}, V{"bootstrap failed", "store unreachable"}},
      {"StartFailedBacksOff",
       Obs("pg-1", N::kStarting).Stopped().Leader(Lease("pg-0", 2, 7), kFresh)
           .Task(T::kStart, false, 2, false, "postgres exited during start")
           .Memory([](AgentMemory& m) { m.task_sequence_seen = 1; }),
       N::kStopped, V{}, V{"start failed", "postgres exited during start", "retrying"}},

      // ---- failover ----
      {"LeaderUnchangedJustUnderTtlIsStillFollowed",
       Obs("pg-1", N::kReplica).Replica(1, 0x5000000, "pg-0")
           .Leader(Lease("pg-0", 2, 7), kTtl - Duration(1)),
       N::kReplica, V{}, V{"streaming from leader pg-0"}},
      {"LeaderUnchangedForTtlAsksForPeerPositions",
       Obs("pg-1", N::kReplica).Replica(1, 0x5000000, "pg-0").Leader(Lease("pg-0", 2, 7), kTtl),
       N::kReplica, V{}, V{"lease of pg-0 expired", "asking the other members"}, true},
      {"BestCandidateAcquiresAndPromotes",
       Obs("pg-1", N::kReplica).Replica(1, 0x5000000, "pg-0").Leader(Lease("pg-0", 2, 7), Duration(12000))
           .Peers({Peer("pg-2", 1, 0x4FFF000)}),
       N::kPromoting, V{"acquire_lease(rev 7)", "append_history(tl 2)", "promote(tl 2)"},
       V{"lease of pg-0 expired", "best candidate", "pg-1(tl 1, 0/5000000) > pg-2"}, false,
       [](const Decision& d) {
         EXPECT_EQ(d.memory.previous_leader, "pg-0");
         EXPECT_THAT(d.memory.promotion_reason, HasSubstr("expired"));
       }},
      {"PromotionTakesATimelineNumberAboveEveryRecordedOne",
       // Timeline 5 was reserved by a promotion that never finished: ours is 6, never a second 2.
       Obs("pg-1", N::kReplica).Replica(1, 0x5000000, "pg-0").Leader(Lease("pg-0", 2, 7), Duration(12000))
           .History(5, 0x5000000, "pg-0", "pg-2", 1).Peers({Peer("pg-2", 1, 0x4FFF000)}),
       N::kPromoting, V{"acquire_lease(rev 7)", "append_history(tl 6)", "promote(tl 6)"}, V{"best candidate"},
       false, [](const Decision& d) {
         const HistoryEntry& h = std::get<AppendHistory>(d.actions[1]).entry;
         EXPECT_EQ(h.parent, 1u);
         EXPECT_EQ(h.switch_lsn, Lsn{0x5000000});
         EXPECT_EQ(h.new_leader, "pg-1");
       }},
      {"WorseCandidateLetsTheBestOneTakeOver",
       Obs("pg-2", N::kReplica).Replica(1, 0x4FFF000, "pg-0").Leader(Lease("pg-0", 2, 7), Duration(12000))
           .Peers({Peer("pg-1", 1, 0x5000000)}),
       N::kReplica, V{}, V{"pg-1 is the better candidate"}},
      {"HigherTimelineWinsOverMoreWal",
       Obs("pg-1", N::kReplica).Replica(2, 0x6000000, "pg-0")
           .Leader(Lease("pg-0", 2, 7, 0x5000000, 2), kTtl).Peers({Peer("pg-2", 3, 0x5100000)}),
       N::kReplica, V{}, V{"pg-2 is the better candidate"}},
      {"EqualPositionsSmallerNameTakesOver",
       Obs("pg-1", N::kReplica).Replica(1, 0x5000000, "pg-0").Leader(Lease("pg-0", 2, 7), kTtl)
           .Peers({Peer("pg-2", 1, 0x5000000)}),
       N::kPromoting, V{"acquire_lease(rev 7)", "append_history(tl 2)", "promote(tl 2)"}, V{"best candidate"}},
      {"EqualPositionsLargerNameStepsBack",
       Obs("pg-2", N::kReplica).Replica(1, 0x5000000, "pg-0").Leader(Lease("pg-0", 2, 7), kTtl)
           .Peers({Peer("pg-1", 1, 0x5000000)}),
       N::kReplica, V{}, V{"pg-1 is the better candidate"}},
      {"UnreachablePeerAheadDoesNotHoldUpFailover",
       Obs("pg-2", N::kReplica).Replica(1, 0x4FFF000, "pg-0").Leader(Lease("pg-0", 2, 7), kTtl)
           .Peers({Unreachable(Peer("pg-1", 1, 0x5000000))}),
       N::kPromoting, V{"acquire_lease(rev 7)", "append_history(tl 2)", "promote(tl 2)"}, V{"pg-1 (unreachable"}},
      {"NofailoverPeerAheadDoesNotHoldUpFailover",
       Obs("pg-2", N::kReplica).Replica(1, 0x4FFF000, "pg-0").Leader(Lease("pg-0", 2, 7), kTtl)
           .Peers({NoFailoverPeer(Peer("pg-1", 1, 0x5000000))}),
       N::kPromoting, V{"acquire_lease(rev 7)", "append_history(tl 2)", "promote(tl 2)"}, V{"nofailover"}},
      {"ReplicaLaggingBeyondMaximumLagIsIneligible",
       Obs("pg-2", N::kReplica).Replica(1, 0x5000000 - 2 * kMiB, "pg-0")
           .Leader(Lease("pg-0", 2, 7, 0x5000000), Duration(15000)),
       N::kReplica, V{}, V{"may not take over", "maximum_lag_on_failover"}},
      {"ReplicaLaggingExactlyMaximumLagIsEligible",
       Obs("pg-2", N::kReplica).Replica(1, 0x5000000 - kMiB, "pg-0")
           .Leader(Lease("pg-0", 2, 7, 0x5000000), Duration(15000)).Peers({}),
       N::kPromoting, V{"acquire_lease(rev 7)", "append_history(tl 2)", "promote(tl 2)"}, V{"best candidate"}},
      {"ReplicaOnAnOlderTimelineIsIneligible",
       Obs("pg-2", N::kReplica).Replica(1, 0x5000000, "pg-0")
           .Leader(Lease("pg-0", 2, 7, 0x5000000, 2), Duration(15000)),
       N::kReplica, V{}, V{"may not take over", "timeline 1"}},
      {"NofailoverNeverPromotes",
       Obs("pg-1", N::kReplica).NoFailover().Replica(1, 0x5000000, "pg-0")
           .Leader(Lease("pg-0", 2, 7), Duration(15000)).Peers({Peer("pg-2", 1, 0x4000000)}),
       N::kReplica, V{}, V{"nofailover"}},
      {"ReleasedLeaseBehindTheFinalPositionMayNotTakeOver",
       Obs("pg-1", N::kReplica).Replica(1, 0x4FFFFFF, "pg-0").Leader(Released("pg-0", 2, 8, 0x5000000)),
       N::kReplica, V{}, V{"released", "may not take over", "1 bytes behind"}},
      {"ReleasedLeaseAtTheFinalPositionIsContestedAtOnce",
       Obs("pg-1", N::kReplica).Replica(1, 0x5000000, "pg-0").Leader(Released("pg-0", 2, 8, 0x5000000)),
       N::kReplica, V{}, V{"released by pg-0 at 0/5000000", "asking"}, true},
      {"ReleasedLeaseTakenByTheMemberWithAllTheWal",
       Obs("pg-1", N::kReplica).Replica(1, 0x5000000, "pg-0").Leader(Released("pg-0", 2, 8, 0x5000000))
           .Peers({Peer("pg-2", 1, 0x4FFF000)}),
       N::kPromoting, V{"acquire_lease(rev 8)", "append_history(tl 2)", "promote(tl 2)"}, V{"released by pg-0", "best candidate"}},
      {"ReleasedLeaseLaggingPeerIsExcluded",
       Obs("pg-1", N::kReplica).Replica(1, 0x5000000, "pg-0").Leader(Released("pg-0", 2, 8, 0x5000000))
           .Peers({Peer("pg-2", 1, 0x4FFFFFF)}),
       N::kPromoting, V{"acquire_lease(rev 8)", "append_history(tl 2)", "promote(tl 2)"}, V{"pg-2 (", "released the lease cleanly"}},
      {"NoLeaderAtAllRunsAnElection",
       Obs("pg-1", N::kReplica).Replica(1, 0x5000000, "").Peers({Peer("pg-2", 1, 0x4000000)}),
       N::kPromoting, V{"acquire_lease(absent)", "append_history(tl 2)", "promote(tl 2)"}, V{"no leader lease exists"}},
      {"LeaseNamingUsWhileInRecoveryPromotes",
       Obs("pg-1", N::kReplica).Replica(1, 0x5000000, "pg-0").Leader(Lease("pg-1", 3, 9))
           .OwnLease(3, 9, Duration(200)),
       N::kPromoting, V{"renew_lease(term 3)", "append_history(tl 2)", "promote(tl 2)"},
       V{"we hold the leader lease (term 3)"}},
      {"LeaseNamingUsPromotesOntoOurOwnEarlierReservation",
       // Our promotion was recorded (timeline 4) but did not happen before the agent restarted.
       Obs("pg-1", N::kInit).Replica(1, 0x5000000, "pg-0").Leader(Lease("pg-1", 3, 9))
           .History(4, 0x5000000, "pg-0", "pg-1", 1),
       N::kPromoting, V{"renew_lease(term 3)", "promote(tl 4)"}, V{"we hold the leader lease (term 3)"}},
      {"ReplicaAlreadyOnTheNewLeadersTimelineJustFollows",
       // The new leader's record still carries its old timeline until its next renewal; the
       // history shows the timeline it reserved, which this replica already follows.
       Obs("pg-2", N::kReplica).Replica(2, 0x5000200, "pg-1")
           .Leader(Lease("pg-1", 5, 40, 0x5000100, 1), Duration(200)).History(2, 0x5000100, "pg-0", "pg-1", 1),
       N::kReplica, V{}, V{"pg-1"}, false,
       [](const Decision& d) { EXPECT_FALSE(d.memory.needs_rewind); }},

      // ---- a former primary coming back ----
      {"OldPrimaryReturningRewindsFromTheNewLeader",
       Obs("pg-0", N::kInit).Stopped(/*was_primary=*/true).Leader(Lease("pg-1", 5, 40, 0x6000000, 2)),
       N::kRewinding, V{"rewind(" + Ep("pg-1") + ")"}, V{"we were a primary", "pg-1 leads", "pg_rewind"}},
      {"OldPrimaryStillRunningIsFencedBeforeAnythingElse",
       Obs("pg-0", N::kInit).Primary(1, 0x5000000).Leader(Lease("pg-1", 5, 40, 0x6000000, 2)),
       N::kDemoting, V{"stop(immediate)"}, V{"held by pg-1"}},
      {"DemotedPrimaryRewindsOnceStopped",
       Obs("pg-0", N::kDemoting).Stopped(true).Leader(Lease("pg-1", 5, 40, 0x6000000, 2), kFresh),
       N::kRewinding, V{"rewind(" + Ep("pg-1") + ")"}, V{"we were a primary"}},
      {"OldPrimaryAfterCleanReleaseTakesTheLeaseBack",
       Obs("pg-0", N::kInit).Stopped(true).Leader(Released("pg-0", 3, 21)), N::kStarting,
       V{"acquire_lease(rev 21)", "start(primary)"}, V{"released the lease cleanly", "nobody took it"}},
      {"LeaseStillNamingUsRestartsAsPrimaryUnderARenewal",
       Obs("pg-0", N::kInit).Stopped(true).Leader(Lease("pg-0", 3, 20)), N::kStarting,
       V{"renew_lease(term 3)", "start(primary)"}, V{"names us (term 3)"}},
      {"DivergedReplicaStopsToRewind",
       Obs("pg-0", N::kReplica).Replica(1, 0x5000200, "pg-1")
           .Leader(Lease("pg-1", 5, 40, 0x5000300, 2), Duration(2000)).History(2, 0x5000100, "pg-0", "pg-1"),
       N::kStopped, V{"stop(fast)"}, V{"past where the leader's timeline 2 left it", "rewind from pg-1"},
       false, [](const Decision& d) { EXPECT_TRUE(d.memory.needs_rewind); }},
      {"ReplicaOnABranchTheLeaderDoesNotDescendFromStopsToRewind",
       // 1 -> 2 at 0x5000100 (pg-0's, lost), 1 -> 3 at 0x5000080 (pg-1's): timeline 2 is foreign.
       Obs("pg-0", N::kReplica).Replica(2, 0x5000100, "pg-1")
           .Leader(Lease("pg-1", 6, 40, 0x5000300, 3), Duration(2000))
           .History(2, 0x5000100, "pg-2", "pg-0", 1).History(3, 0x5000080, "pg-0", "pg-1", 1),
       N::kStopped, V{"stop(fast)"}, V{"does not descend from", "rewind from pg-1"}},
      {"ReplicaOnANewerTimelineThanTheLeadersStopsToRewind",
       Obs("pg-0", N::kReplica).Replica(4, 0x5000100, "pg-1")
           .Leader(Lease("pg-1", 6, 40, 0x5000300, 3), Duration(2000)),
       N::kStopped, V{"stop(fast)"}, V{"after the leader's timeline 3 began"}},
      {"ReplicaShortOfTheSwitchPointJustFollows",
       Obs("pg-2", N::kReplica).Replica(1, 0x5000080, "pg-1")
           .Leader(Lease("pg-1", 5, 40, 0x5000300, 2), Duration(2000)).History(2, 0x5000100, "pg-0", "pg-1"),
       N::kReplica, V{}, V{"pg-1"},
       false, [](const Decision& d) { EXPECT_FALSE(d.memory.needs_rewind); }},
      {"DivergedReplicaRewindsOnceStopped",
       Obs("pg-0", N::kStopped).Stopped().Leader(Lease("pg-1", 5, 40, 0x5000300, 2), kFresh)
           .Memory([](AgentMemory& m) { m.needs_rewind = true; }),
       N::kRewinding, V{"rewind(" + Ep("pg-1") + ")"}, V{"our timeline diverged"}},
      {"FailedRewindKeepsTheDirectoryAsideForAClone",
       Obs("pg-0", N::kRewinding).Stopped(true).Leader(Lease("pg-1", 5, 40, 0x6000000, 2), kFresh)
           .Task(T::kRewind, false, 1, false, "pg_rewind: could not find common ancestor"),
       N::kWaiting, V{"keep_data_dir_aside"}, V{"rewind failed", "could not find common ancestor", "aside"}},
      {"RewindThatFoundNothingToUndoStartsAsAReplica",
       // pg_rewind answered "no rewind required": pg_control still says primary, but the
       // rewind against this leader's term succeeded, so it is not run again.
       Obs("pg-0", N::kRewinding).Stopped(true).Leader(Lease("pg-1", 5, 40, 0x6000000, 2), kFresh)
           .Memory([](AgentMemory& m) { m.rewind_term = 5; })
           .Task(T::kRewind, false, 1, true),
       N::kStarting, V{"start(replica of " + Ep("pg-1") + ")"}, V{"replica of leader pg-1"},
       false, [](const Decision& d) { EXPECT_EQ(d.memory.rewound_term, 5u); }},
      {"RewindForAnEarlierLeaderIsRepeatedForTheNewOne",
       Obs("pg-0", N::kStopped).Stopped(true).Leader(Lease("pg-2", 6, 50, 0x7000000, 3), kFresh)
           .Memory([](AgentMemory& m) { m.rewind_term = 5; m.rewound_term = 5; }),
       N::kRewinding, V{"rewind(" + Ep("pg-2") + ")"}, V{"we were a primary", "pg-2 leads"},
       false, [](const Decision& d) { EXPECT_EQ(d.memory.rewind_term, 6u); }},
      {"DivergenceFoundAfterARewindAgainstThisLeaderAllowsAnotherRewind",
       // The rewind ran while the leader was still promoting and found nothing to undo; started,
       // our WAL is past the fork: stop, and the next rewind is not skipped as done.
       Obs("pg-0", N::kReplica).Replica(1, 0x5000200, "pg-1")
           .Leader(Lease("pg-1", 5, 40, 0x5000300, 2), Duration(2000)).History(2, 0x5000100, "pg-0", "pg-1")
           .Memory([](AgentMemory& m) { m.rewind_term = 5; m.rewound_term = 5; }),
       N::kStopped, V{"stop(fast)"}, V{"past where the leader's timeline 2 left it"},
       false, [](const Decision& d) {
         EXPECT_TRUE(d.memory.needs_rewind);
         EXPECT_EQ(d.memory.rewound_term, 0u);
       }},
      {"UnreachableRewindSourceIsRetriedAndNothingIsKeptAside",
       Obs("pg-0", N::kRewinding).Stopped(true).Leader(Lease("pg-1", 5, 40, 0x6000000, 2), kFresh)
           .Memory([](AgentMemory& m) { m.rewind_term = 5; })
           .Task(T::kRewind, false, 1, false, "cannot reach pg-1 for pg_rewind")
           .Local([](LocalState& l) { l.task.retryable = true; }),
       N::kStopped, V{}, V{"cannot reach pg-1"},
       false, [](const Decision& d) { EXPECT_EQ(d.memory.rewound_term, 0u); }},

      // ---- data directories that are not ours ----
      {"OtherClustersDataDirectoryIsBlockedUntouched",
       Obs("pg-1", N::kInit).Stopped().SystemId(kOtherSys).Leader(Lease("pg-0", 2, 7)), N::kBlocked, V{},
       V{"another cluster", kOtherSys, kSys, "nothing was touched"}},
      {"OtherClustersFormerPrimaryIsBlockedNotRewound",
       Obs("pg-1", N::kStopped).Stopped(true).SystemId(kOtherSys).Leader(Lease("pg-0", 2, 7), kFresh),
       N::kBlocked, V{}, V{"another cluster"}},
      {"OtherClustersRunningReplicaIsBlockedNotPromoted",
       Obs("pg-1", N::kReplica).Replica(1, 0x9000000, "").SystemId(kOtherSys).Peers({}), N::kBlocked, V{},
       V{"another cluster"}},
      {"ForeignFilesAreBlockedUntouched",
       Obs("pg-1", N::kInit).DataDir(D::kForeign, "it holds notes.txt, backup.tar").Leader(Lease("pg-0", 2, 7)),
       N::kBlocked, V{}, V{"notes.txt, backup.tar", "nothing was touched"}},
  };
}

class DecideTable : public ::testing::TestWithParam<Case> {};

TEST_P(DecideTable, NextStateActionsAndReason) {
  const Case& c = GetParam();
  Decision d = Decide(c.in);
  SCOPED_TRACE(Explain(c.in.memory.state, d));
  EXPECT_EQ(NodeStateName(d.next), std::string(NodeStateName(c.next)));
  EXPECT_EQ(d.memory.state, d.next) << "the memory carries the state decided";
  EXPECT_EQ(Summaries(d.actions), c.actions);
  for (const std::string& cause : c.because) EXPECT_THAT(d.reason, HasSubstr(cause));
  EXPECT_EQ(d.needs_peer_positions, c.needs_peers);
  if (d.needs_peer_positions) {
    EXPECT_TRUE(d.actions.empty()) << "asking for peers is all it does";
  }
  EXPECT_TRUE(IsLegalTransition(c.in.memory.state, d.next));
  if (c.also) c.also(d);
}

INSTANTIATE_TEST_SUITE_P(Situations, DecideTable, ::testing::ValuesIn(Situations()),
                         [](const ::testing::TestParamInfo<Case>& info) { return info.param.name; });

// ---- the transition table -------------------------------------------------------------------

TEST(NodeStateTable, NamesRoundTrip) {
  std::set<std::string> names;
  for (NodeState s : kAllNodeStates) {
    names.insert(NodeStateName(s));
    EXPECT_EQ(ParseNodeState(NodeStateName(s)), s);
  }
  EXPECT_EQ(names.size(), std::size(kAllNodeStates));
  EXPECT_EQ(ParseNodeState("leader"), std::nullopt);
}

TEST(NodeStateTable, WritableStatesAreEnteredOnlyBehindALease) {
  // kPrimary only after a bootstrap, a start under a renewed lease, or a promotion; kPromoting
  // only from a running replica (or one starting, or found at start-up) whose lease it took.
  const std::set<NodeState> into_primary = {N::kBootstrapping, N::kStarting, N::kPromoting};
  const std::set<NodeState> into_promoting = {N::kInit, N::kReplica, N::kStarting};
  for (NodeState from : kAllNodeStates) {
    if (from == N::kPrimary || from == N::kPromoting) continue;
    EXPECT_EQ(IsLegalTransition(from, N::kPrimary), into_primary.count(from) == 1) << NodeStateName(from);
    EXPECT_EQ(IsLegalTransition(from, N::kPromoting), into_promoting.count(from) == 1) << NodeStateName(from);
  }
  EXPECT_TRUE(IsLegalTransition(N::kPromoting, N::kPrimary));
}

TEST(NodeStateTable, TheFenceTheStoreAndOperatorsReachEveryState) {
  for (NodeState from : kAllNodeStates) {
    EXPECT_TRUE(IsLegalTransition(from, N::kDemoting)) << NodeStateName(from);
    EXPECT_TRUE(IsLegalTransition(from, N::kWaiting)) << NodeStateName(from);
    EXPECT_TRUE(IsLegalTransition(from, N::kBlocked)) << NodeStateName(from);
    EXPECT_TRUE(IsLegalTransition(from, from)) << NodeStateName(from);
    EXPECT_FALSE(from != N::kInit && IsLegalTransition(from, N::kInit)) << "nothing returns to init";
  }
}

TEST(NodeStateTable, EveryListedEdgeSaysWhatTriggersIt) {
  for (const Transition& t : Transitions()) {
    EXPECT_TRUE(t.trigger != nullptr && *t.trigger != '\0') << NodeStateName(t.from) << "->" << NodeStateName(t.to);
    EXPECT_TRUE(IsLegalTransition(t.from, t.to));
  }
}

// ---- boundaries and multi-tick stories ----------------------------------------------------------

bool HasAction(const Decision& d, const std::string& summary) {
  for (const auto& a : d.actions) {
    if (Summary(a) == summary) return true;
  }
  return false;
}

TEST(DecideFence, DemotesExactlyAtTheOwnLeaseDeadline) {
  OwnLease probe{3, 20, kNow, kTtl};
  Duration usable = OwnLeaseDeadline(probe) - kNow;  // ttl - margin
  Observation just_before = Obs("pg-0", N::kPrimary).Primary(1, 0x5000000)
                                .Leader(Lease("pg-0", 3, 20), kFresh)
                                .OwnLease(3, 20, usable - Duration(1));
  Decision before = Decide(just_before);
  EXPECT_EQ(before.next, N::kPrimary);
  EXPECT_TRUE(HasAction(before, "renew_lease(term 3)"));

  Observation at = Obs("pg-0", N::kPrimary).Primary(1, 0x5000000)
                       .Leader(Lease("pg-0", 3, 20), kFresh)
                       .OwnLease(3, 20, usable);
  Decision fenced = Decide(at);
  EXPECT_EQ(fenced.next, N::kDemoting);
  ASSERT_FALSE(fenced.actions.empty());
  EXPECT_EQ(Summary(fenced.actions.front()), "stop(immediate)");
  EXPECT_FALSE(HasAction(fenced, "renew_lease(term 3)")) << "a lease that cannot be proven is not renewed";
}

TEST(DecideFence, StoreOutageCountsDownOnTheMonotonicClock) {
  // The primary keeps serving through a store outage until the deadline of its last renewal, and
  // not a millisecond longer, whatever the wall clock says.
  Observation base = Obs("pg-0", N::kPrimary).Primary(1, 0x5000000).OwnLease(3, 20, Duration(0)).StoreDown();
  MonoTime deadline = OwnLeaseDeadline(*base.memory.lease);
  for (Duration after : {Duration(0), Duration(1000), Duration(5000), deadline - kNow - Duration(1)}) {
    Observation o = base;
    o.now = kNow + after;
    o.wall_now.unix_ms += 3'600'000;  // a wall-clock jump must not matter
    Decision d = Decide(o);
    EXPECT_EQ(d.next, N::kPrimary) << "at +" << after.count() << "ms";
    EXPECT_TRUE(d.actions.empty());
  }
  Observation o = base;
  o.now = deadline;
  Decision d = Decide(o);
  EXPECT_EQ(d.next, N::kDemoting);
  EXPECT_EQ(Summaries(d.actions), V{"stop(immediate)"});
}

TEST(DecideFence, RestartsAsPrimaryOnlyBehindARenewalOfTheSameTerm) {
  // After the fence, the stopped former primary with the store back and the record still naming
  // it may only restart under a renewal of exactly that term (a compare-and-swap the store refuses
  // if anyone took over meanwhile).
  Observation o = Obs("pg-0", N::kDemoting).Stopped(true).Leader(Lease("pg-0", 3, 20), Duration(9000));
  Decision d = Decide(o);
  ASSERT_GE(d.actions.size(), 2u);
  EXPECT_EQ(Summary(d.actions[0]), "renew_lease(term 3)");
  EXPECT_EQ(Summary(d.actions[1]), "start(primary)");
}

TEST(DecideBlocked, BootstrapFailureStaysBlockedUntilRestart) {
  Observation failed = Obs("pg-0", N::kBootstrapping).ClaimedBy("pg-0").DataDir(D::kEmpty)
                           .Task(T::kBootstrap, false, 1, false, "initdb failed");
  Decision d = Decide(failed);
  ASSERT_EQ(d.next, N::kBlocked);
  // The next ticks: the claim is gone and another member might bootstrap; we stay blocked and do
  // nothing, even though the cluster now looks uninitialized to us.
  Observation later = Obs("pg-0", N::kBlocked).NotInitialized().DataDir(D::kEmpty);
  later.memory = d.memory;
  later.local.task = failed.local.task;
  later.now = kNow + Duration(60000);
  Decision again = Decide(later);
  EXPECT_EQ(again.next, N::kBlocked);
  EXPECT_TRUE(again.actions.empty());
  EXPECT_THAT(again.reason, HasSubstr("initdb failed"));
}

// One agent as the loop drives it: Decide, remember, apply the lease write the executor reports.
struct Agent {
  std::string name;
  AgentMemory memory;

  Decision Tick(Observation o, MonoTime now, std::optional<LeaseOutcome> lease = std::nullopt) {
    o.memory = memory;
    o.now = now;
    Decision d = Decide(o);
    if (d.needs_peer_positions) return d;  // the caller collects and ticks again
    memory = d.memory;
    if (lease) memory = ApplyLeaseOutcome(memory, *lease);
    return d;
  }
};

TEST(DecideStory, FailoverAfterTheLeaderStopsRenewing) {
  Agent pg1{"pg-1", {}};
  Agent pg2{"pg-2", {}};
  pg1.memory.state = pg2.memory.state = N::kReplica;
  LeaderRecord rec = Lease("pg-0", 2, 7, 0x5000000);
  auto seen_by = [&](const std::string& me, uint64_t lsn) -> Observation {
    return Obs(me, N::kReplica).Replica(1, lsn, "pg-0").Leader(rec);
  };
  // pg-0 renews at t=0 (revision 7) and is never heard of again. Both replicas tick every second.
  MonoTime t = kNow;
  for (int i = 0; i < 10; ++i, t = t + Duration(1000)) {
    Decision d1 = pg1.Tick(seen_by("pg-1", 0x5000000), t);
    Decision d2 = pg2.Tick(seen_by("pg-2", 0x4FFF000), t);
    EXPECT_EQ(d1.next, N::kReplica) << "t+" << i << "s";
    EXPECT_EQ(d2.next, N::kReplica) << "t+" << i << "s";
    EXPECT_FALSE(d1.needs_peer_positions || d2.needs_peer_positions) << "t+" << i << "s: not yet expired";
  }
  // t+10s: both have seen revision 7 for a whole ttl on their own clocks.
  Observation o1 = seen_by("pg-1", 0x5000000);
  Observation o2 = seen_by("pg-2", 0x4FFF000);
  Decision ask1 = pg1.Tick(o1, t);
  Decision ask2 = pg2.Tick(o2, t);
  ASSERT_TRUE(ask1.needs_peer_positions);
  ASSERT_TRUE(ask2.needs_peer_positions);
  o1.peers_collected = o2.peers_collected = true;
  o1.peers = {Unreachable(Peer("pg-0", 1, 0)), Peer("pg-2", 1, 0x4FFF000)};
  o2.peers = {Unreachable(Peer("pg-0", 1, 0)), Peer("pg-1", 1, 0x5000000)};
  LeaderRecord won = Lease("pg-1", 3, 8, 0x5000000);
  Decision d1 = pg1.Tick(o1, t, LeaseOutcome{true, won, t});
  Decision d2 = pg2.Tick(o2, t);
  EXPECT_EQ(Summaries(d1.actions), (V{"acquire_lease(rev 7)", "append_history(tl 2)", "promote(tl 2)"}));
  EXPECT_EQ(d1.next, N::kPromoting);
  EXPECT_TRUE(d2.actions.empty()) << Explain(N::kReplica, d2);
  EXPECT_EQ(d2.next, N::kReplica);
  ASSERT_TRUE(pg1.memory.lease.has_value());

  // t+11s: pg-1's promotion finished; pg-2 sees the new record and follows pg-1.
  t = t + Duration(1000);
  rec = won;
  Observation p1 = Obs("pg-1", N::kPromoting).Primary(2, 0x5000100).Leader(rec)
                       .Local([](LocalState& l) { l.timeline_switch_lsn = Lsn{0x5000000}; });
  Decision primary = pg1.Tick(p1, t);
  EXPECT_EQ(primary.next, N::kPrimary);
  EXPECT_EQ(Summaries(primary.actions), (V{"renew_lease(term 3)", "append_history(tl 2)", "ensure_slots(pg-0,pg-2)"}));
  const HistoryEntry& h = std::get<AppendHistory>(primary.actions[1]).entry;
  EXPECT_EQ(h.old_leader, "pg-0");
  EXPECT_EQ(h.new_leader, "pg-1");
  Decision follow = pg2.Tick(seen_by("pg-2", 0x4FFF000), t);
  EXPECT_EQ(Summaries(follow.actions), V{"follow(" + Ep("pg-1") + ")"});
  EXPECT_EQ(follow.next, N::kReplica);
}

TEST(DecideStory, ARenewalSeenJustBeforeExpiryPostponesTheElection) {
  Agent pg1{"pg-1", {}};
  pg1.memory.state = N::kReplica;
  auto with = [](const LeaderRecord& r) {
    return Obs("pg-1", N::kReplica).Replica(1, 0x5000000, "pg-0").Leader(r);
  };
  pg1.Tick(with(Lease("pg-0", 2, 7)), kNow);
  pg1.Tick(with(Lease("pg-0", 2, 8)), kNow + kTtl - Duration(1));  // renewed at the last moment
  Decision d = pg1.Tick(with(Lease("pg-0", 2, 8)), kNow + kTtl);
  EXPECT_FALSE(d.needs_peer_positions);
  EXPECT_EQ(d.next, N::kReplica);
  Decision later = pg1.Tick(with(Lease("pg-0", 2, 8)), kNow + 2 * kTtl - Duration(1));
  EXPECT_TRUE(later.needs_peer_positions);
}

TEST(DecideStory, BootstrapOfAFreshClusterAndTheOthersClone) {
  Agent pg0{"pg-0", {}};
  Agent pg1{"pg-1", {}};
  MonoTime t = kNow;
  // Both start on empty volumes with nothing in the store; pg-0 ticks first and wins the claim.
  Decision c0 = pg0.Tick(Obs("pg-0", N::kInit).NotInitialized().DataDir(D::kEmpty), t,
                         LeaseOutcome{true, Lease("pg-0", 1, 1, 0, 0), t});
  ASSERT_EQ(c0.next, N::kBootstrapping);
  Decision c1 = pg1.Tick(Obs("pg-1", N::kInit).ClaimedBy("pg-0").DataDir(D::kEmpty).Leader(Lease("pg-0", 1, 1, 0, 0)), t);
  EXPECT_EQ(c1.next, N::kWaiting);
  EXPECT_TRUE(c1.actions.empty());

  // initdb runs.
  t = t + Duration(1000);
  Decision r0 = pg0.Tick(Obs("pg-0", N::kBootstrapping).ClaimedBy("pg-0").DataDir(D::kIncomplete)
                             .Leader(Lease("pg-0", 1, 1, 0, 0)).Task(T::kBootstrap, true, 1),
                         t, LeaseOutcome{true, Lease("pg-0", 1, 2, 0, 0), t});
  EXPECT_EQ(r0.next, N::kBootstrapping);
  EXPECT_EQ(Summaries(r0.actions), V{"renew_lease(term 1)"});

  // Done: PostgreSQL runs as the primary; the claim is completed with its system identifier.
  t = t + Duration(1000);
  Decision done = pg0.Tick(Obs("pg-0", N::kBootstrapping).ClaimedBy("pg-0").Primary(1, 0x1000000)
                               .Leader(Lease("pg-0", 1, 2, 0, 0)).Task(T::kBootstrap, false, 1),
                           t, LeaseOutcome{true, Lease("pg-0", 1, 3, 0x1000000, 1), t});
  EXPECT_EQ(done.next, N::kPrimary);
  EXPECT_EQ(Summaries(done.actions), (V{"renew_lease(term 1)", std::string("complete_initialize(") + kSys + ")"}));

  // pg-1 now finds a complete cluster and a leader: it clones, it never bootstraps.
  Decision clone = pg1.Tick(Obs("pg-1", N::kWaiting).InitializedBy("pg-0").DataDir(D::kEmpty)
                                .Leader(Lease("pg-0", 1, 3, 0x1000000, 1)),
                            t);
  EXPECT_EQ(clone.next, N::kCloning);
  EXPECT_EQ(Summaries(clone.actions), V{"clone(" + Ep("pg-0") + ")"});
}

TEST(DecideSafety, AnInitializedClusterIsNeverBootstrappedOrWiped) {
  // Whatever this member's data directory, leader situation and memory: once `initialize` is
  // complete, no Bootstrap, no clone into a non-empty directory, nothing set aside but an
  // interrupted one.
  const std::vector<D> dirs = {D::kMissing, D::kEmpty, D::kValid, D::kIncomplete, D::kForeign};
  const std::vector<std::optional<LeaderRecord>> leaders = {
      std::nullopt, Lease("pg-0", 2, 7), Lease("pg-1", 2, 7), Released("pg-0", 2, 7), Released("pg-1", 2, 7)};
  const std::vector<Duration> seen = {Duration(0), Duration(5000), Duration(20000)};
  int checked = 0;
  for (const char* me : {"pg-0", "pg-1"}) {
    for (D dir : dirs) {
      for (const auto& leader : leaders) {
        for (Duration s : seen) {
          for (NodeState state : kAllNodeStates) {
            for (bool was_primary : {false, true}) {
              Obs b(me, state);
              b.InitializedBy("pg-0").DataDir(dir).Stopped(was_primary);
              if (leader) b.Leader(*leader, s);
              Observation o = b;
              Decision d = Decide(o);
              ++checked;
              SCOPED_TRACE(std::string(me) + " dir=" + DataDirKindName(dir) + " " + Explain(state, d));
              for (const Action& a : d.actions) {
                EXPECT_FALSE(std::holds_alternative<struct Bootstrap>(a));
                EXPECT_FALSE(std::holds_alternative<ClaimInitialize>(a));
                if (std::holds_alternative<Clone>(a)) {
                  EXPECT_TRUE(dir == D::kEmpty || dir == D::kMissing);
                }
                if (std::holds_alternative<KeepDataDirAside>(a)) {
                  EXPECT_EQ(dir, D::kIncomplete);
                }
              }
            }
          }
        }
      }
    }
  }
  EXPECT_GT(checked, 1000);
}

}  // namespace
}  // namespace pgpilot

namespace pgpilot {
namespace {

TEST(WatchdogAfterTick, ArmedWithALeaseKeptWhileAStartRunsDisarmedOnlyWhenNothingCanWrite) {
  AgentMemory holding;
  holding.lease = OwnLease{3, 9, MonoTime{std::chrono::seconds(100)}, Duration(8000)};
  LocalState down;  // PostgreSQL not running, no task
  WatchdogOrder armed = WatchdogAfterTick(holding, false, down);
  EXPECT_EQ(armed.kind, WatchdogOrder::kArm);
  EXPECT_EQ(armed.deadline, WatchdogDeadline(*holding.lease));

  AgentMemory lost;  // no lease any more
  EXPECT_EQ(WatchdogAfterTick(lost, false, down).kind, WatchdogOrder::kDisarm);

  LocalState starting = down;  // a start launched under the old lease may still finish
  starting.task = TaskState{TaskKind::kStart, true, 4, false, "", false};
  EXPECT_EQ(WatchdogAfterTick(lost, false, starting).kind, WatchdogOrder::kKeep);

  LocalState writable;
  writable.data_dir = DataDirKind::kValid;
  writable.running = true;
  writable.accepting = true;
  EXPECT_EQ(WatchdogAfterTick(lost, false, writable).kind, WatchdogOrder::kKeep)
      << "never disarmed while PostgreSQL may still accept writes";
  EXPECT_EQ(WatchdogAfterTick(lost, true, writable).kind, WatchdogOrder::kDisarm)
      << "a stop this tick succeeded";
}

}  // namespace
}  // namespace pgpilot

namespace pgpilot {
namespace {

// ---- synchronous mode ----------------------------------------------------------------------

TEST(DecideSynchronous, OnlyAMemberOfTheSyncSetStandsForElection) {
  LeaderRecord gone = Lease("pg-0", 2, 7);
  Decision outside = Decide(Obs("pg-2", N::kReplica).Synchronous().Replica(1, 0x5000000, "pg-0")
                                .Leader(gone, kTtl).Sync("pg-0", {"pg-1"}, 4));
  EXPECT_EQ(outside.next, N::kReplica);
  EXPECT_TRUE(outside.actions.empty());
  EXPECT_FALSE(outside.needs_peer_positions) << "it does not even ask the others";
  EXPECT_THAT(outside.reason, HasSubstr("could lose acknowledged commits"));

  // pg-1 is in the set: it takes the set over (empty) before it records its timeline and promotes.
  Decision inside = Decide(Obs("pg-1", N::kReplica).Synchronous().Replica(1, 0x4FFF000, "pg-0")
                               .Leader(gone, kTtl).Sync("pg-0", {"pg-1"}, 4)
                               .Peers({Unreachable(Peer("pg-0", 1, 0)), Peer("pg-2", 1, 0x5000000)}));
  EXPECT_EQ(inside.next, N::kPromoting) << inside.reason;
  EXPECT_EQ(Summaries(inside.actions),
            (V{"acquire_lease(rev 7)", "write_sync(pg-1:, rev 4)", "append_history(tl 2)", "promote(tl 2)"}))
      << "pg-2 is further ahead but outside the set: it may hold WAL no commit was acknowledged on";

  // Without synchronous mode the more advanced pg-2 would have been preferred.
  Decision async = Decide(Obs("pg-1", N::kReplica).Replica(1, 0x4FFF000, "pg-0").Leader(gone, kTtl)
                              .Sync("pg-0", {"pg-1"}, 4)
                              .Peers({Unreachable(Peer("pg-0", 1, 0)), Peer("pg-2", 1, 0x5000000)}));
  EXPECT_EQ(async.next, N::kReplica);
  EXPECT_THAT(async.reason, HasSubstr("pg-2 is the better candidate"));
}

TEST(DecideSynchronous, TheFormerLeaderOfTheSetMayTakeOverAndNoRecordMeansNoRestriction) {
  LeaderRecord gone = Lease("pg-1", 2, 7);
  // pg-0 led the set (it has every commit it acknowledged) and lost its lease; pg-1 then took
  // the lease but never promoted (the set still names pg-0).
  Decision d = Decide(Obs("pg-0", N::kReplica).Synchronous().Replica(1, 0x5000000, "")
                          .Leader(gone, kTtl).Sync("pg-0", {}, 4)
                          .Peers({Unreachable(Peer("pg-1", 1, 0)), Peer("pg-2", 1, 0x5000000)}));
  EXPECT_EQ(d.next, N::kPromoting) << d.reason;
  EXPECT_EQ(Summaries(d.actions), (V{"acquire_lease(rev 7)", "append_history(tl 2)", "promote(tl 2)"}))
      << "the record already names pg-0: kept as it is";

  Decision none = Decide(Obs("pg-2", N::kReplica).Synchronous().Replica(1, 0x5000000, "pg-0")
                             .Leader(Lease("pg-0", 2, 7), kTtl)
                             .Peers({Unreachable(Peer("pg-0", 1, 0)), Peer("pg-1", 1, 0x4000000)}));
  EXPECT_EQ(Summaries(none.actions),
            (V{"acquire_lease(rev 7)", "write_sync(pg-2:, absent)", "append_history(tl 2)", "promote(tl 2)"}));
}

TEST(DecideSynchronous, AHeldLeaseIsNotPromotedOutsideTheSet) {
  Decision d = Decide(Obs("pg-2", N::kReplica).Synchronous().Replica(1, 0x5000000, "pg-0")
                          .Leader(Lease("pg-2", 3, 8)).Sync("pg-0", {"pg-1"}, 4));
  EXPECT_EQ(d.next, N::kReplica);
  EXPECT_TRUE(d.actions.empty()) << "no renewal, no promotion: the lease runs out";
  EXPECT_THAT(d.reason, HasSubstr("not promoting"));

  Decision in = Decide(Obs("pg-1", N::kReplica).Synchronous().Replica(1, 0x5000000, "pg-0")
                           .Leader(Lease("pg-1", 3, 8)).Sync("pg-0", {"pg-1"}, 4));
  EXPECT_EQ(Summaries(in.actions), (V{"renew_lease(term 3)", "write_sync(pg-1:, rev 4)",
                                      "append_history(tl 2)", "promote(tl 2)"}));
}

TEST(DecideSynchronous, ThePrimaryKeepsItsSetAfterTheLeaseRenewal) {
  Decision d = Decide(Obs("pg-0", N::kPrimary).Synchronous().Primary(1, 0x5000000)
                          .Leader(Lease("pg-0", 2, 7)).OwnLease(2, 7, Duration(1000))
                          .Local([](LocalState& l) {
                            l.standbys = {{"pg-1", true, Lsn{0x5000000}}};
                          }));
  EXPECT_EQ(d.next, N::kPrimary);
  EXPECT_EQ(Summaries(d.actions), (V{"renew_lease(term 2)", "ensure_slots(pg-1,pg-2)", "write_sync(pg-0:, absent)"}));
  EXPECT_THAT(d.reason, HasSubstr("taking over the synchronous set"));

  Decision off = Decide(Obs("pg-0", N::kPrimary).Primary(1, 0x5000000).Leader(Lease("pg-0", 2, 7))
                            .OwnLease(2, 7, Duration(1000))
                            .Local([](LocalState& l) { l.synchronous_standby_names = "ANY 1 (\"pg-1\")"; }));
  EXPECT_EQ(Summaries(off.actions), (V{"renew_lease(term 2)", "ensure_slots(pg-1,pg-2)", "set_sync_standbys()"}))
      << "synchronous mode off: PostgreSQL stops waiting";
}

}  // namespace
}  // namespace pgpilot

namespace pgpilot {
namespace {

// ---- planned switchover --------------------------------------------------------------------

TEST(DecideSwitchover, TheLeaderCheckpointsStopsCleanlyAndReleasesTheLease) {
  auto leader = [](const std::vector<StandbyProgress>& standbys) {
    return Obs("pg-0", N::kPrimary).Primary(1, 0x5000000).Leader(Lease("pg-0", 2, 7))
        .OwnLease(2, 7, Duration(1000))
        .View([](ClusterView& v) { v.switchover = SwitchoverRecord{"pg-0", "pg-1", {}, {}}; })
        .Local([&](LocalState& l) { l.standbys = standbys; });
  };
  Decision d = Decide(leader({{"pg-1", true, Lsn{0x5000000}}}));
  EXPECT_EQ(d.next, N::kStopped) << d.reason;
  EXPECT_EQ(Summaries(d.actions), (V{"renew_lease(term 2)", "ensure_slots(pg-1,pg-2)", "checkpoint",
                                     "renew_lease(term 2)", "stop(fast)", "release_lease(term 2)"}));
  EXPECT_EQ(d.memory.handover_since, kNow);

  Decision refused = Decide(leader({{"pg-2", true, Lsn{0x5000000}}}));
  EXPECT_EQ(refused.next, N::kPrimary);
  EXPECT_EQ(Summaries(refused.actions), (V{"renew_lease(term 2)", "ensure_slots(pg-1,pg-2)", "clear_switchover"}));
  EXPECT_THAT(refused.reason, HasSubstr("switchover to pg-1 refused: pg-1 is not streaming from us"));

  // Scheduled for later: nothing yet, and the reason says when.
  Decision later = Decide(Obs(leader({{"pg-1", true, Lsn{0x5000000}}})).View([](ClusterView& v) {
    v.switchover->not_before = WallTime{1'700'000'060'000};
  }));
  EXPECT_EQ(later.next, N::kPrimary);
  EXPECT_THAT(later.reason, HasSubstr("scheduled for"));
}

TEST(DecideSwitchover, TheTargetTakesTheReleasedLeaseAtOnceAndTheOthersWait) {
  LeaderRecord released = Released("pg-0", 2, 8, 0x5000100);
  auto seen_by = [&](const std::string& me) {
    return Obs(me, N::kReplica).Replica(1, 0x5000100, "pg-0").Leader(released)
        .View([](ClusterView& v) { v.switchover = SwitchoverRecord{"pg-0", "pg-1", {}, {}}; });
  };
  Decision target = Decide(seen_by("pg-1"));
  EXPECT_FALSE(target.needs_peer_positions) << "nobody can be ahead of the released position";
  EXPECT_EQ(target.next, N::kPromoting) << target.reason;
  EXPECT_EQ(Summaries(target.actions), (V{"acquire_lease(rev 8)", "append_history(tl 2)", "promote(tl 2)"}));
  EXPECT_THAT(target.reason, HasSubstr("the switchover names us"));

  Decision other = Decide(seen_by("pg-2"));
  EXPECT_EQ(other.next, N::kReplica);
  EXPECT_TRUE(other.actions.empty());
  EXPECT_FALSE(other.needs_peer_positions);
  EXPECT_THAT(other.reason, HasSubstr("a switchover hands it to pg-1"));

  // A target that lacks the released position does not take it.
  Decision behind = Decide(Obs(seen_by("pg-1")).Local([](LocalState& l) { l.wal_position = Lsn{0x5000000}; }));
  EXPECT_EQ(behind.next, N::kReplica);
  EXPECT_TRUE(behind.actions.empty());
}

TEST(DecideSwitchover, TheOldLeaderWaitsThenFollowsWithoutRewindOrTakesTheLeaseBack) {
  // `since`: how long ago we first saw our released record.
  auto old_leader = [](Duration since) {
    return Obs("pg-0", N::kStopped).Stopped(/*was_primary=*/true)
        .Leader(Released("pg-0", 2, 8, 0x5000100), since)
        .View([](ClusterView& v) { v.switchover = SwitchoverRecord{"pg-0", "pg-1", {}, {}}; })
        .Memory([&](AgentMemory& m) { m.handover_since = kNow - since - Duration(3000); })
        .Local([](LocalState& l) {
          l.clean_shutdown = true;
          l.wal_position = Lsn{0x5000028};
        });
  };
  Decision waiting = Decide(old_leader(Duration(1000)));
  EXPECT_EQ(waiting.next, N::kStopped);
  EXPECT_TRUE(waiting.actions.empty());
  EXPECT_THAT(waiting.reason, HasSubstr("handing the lease over to pg-1"));

  Decision back = Decide(old_leader(kTtl));
  EXPECT_EQ(Summaries(back.actions), (V{"acquire_lease(rev 8)", "clear_switchover", "start(primary)"}));
  EXPECT_THAT(back.reason, HasSubstr("the switchover to pg-1 did not happen"));

  // pg-1 took over: timeline 2 continues from 0/5000100, after our shutdown checkpoint.
  auto after = [](bool clean) {
    return Obs("pg-0", N::kStopped).Stopped(/*was_primary=*/true).Leader(Lease("pg-1", 3, 9, 0x5000200, 2))
        .History(2, 0x5000100, "pg-0", "pg-1", 1)
        .Local([clean](LocalState& l) {
          l.clean_shutdown = clean;
          l.wal_position = Lsn{0x5000028};
        });
  };
  Decision follow = Decide(after(true));
  EXPECT_EQ(Summaries(follow.actions), V{"start(replica of " + Ep("pg-1") + ")"});
  EXPECT_THAT(follow.reason, HasSubstr("without pg_rewind"));
  Decision crashed = Decide(after(false));
  EXPECT_EQ(Summaries(crashed.actions), V{"rewind(" + Ep("pg-1") + ")"}) << "a crash leaves WAL after the checkpoint";
}

TEST(DecideSwitchover, TheNewLeaderClearsTheRequest) {
  Decision d = Decide(Obs("pg-1", N::kPrimary).Primary(2, 0x5000200).Leader(Lease("pg-1", 3, 9))
                          .OwnLease(3, 9, Duration(500)).History(2, 0x5000100, "pg-0", "pg-1", 1)
                          .View([](ClusterView& v) { v.switchover = SwitchoverRecord{"pg-0", "pg-1", {}, {}}; }));
  EXPECT_EQ(d.next, N::kPrimary);
  EXPECT_EQ(Summaries(d.actions), (V{"renew_lease(term 3)", "ensure_slots(pg-0,pg-2)", "clear_switchover"}));
  EXPECT_THAT(d.reason, HasSubstr("the switchover from pg-0 is done"));
}

}  // namespace
}  // namespace pgpilot

namespace pgpilot {
namespace {

// ---- cluster-wide settings and maintenance ------------------------------------------------

TEST(DecideDynamicConfig, TheStoresSettingsOverrideTheAgentsAndSurviveAnOutage) {
  DynamicConfig config;
  config.synchronous_mode = SyncMode::kOn;
  config.maximum_lag_on_failover = 1;
  HaSettings mine;
  mine.maximum_lag_on_failover = 1 << 20;
  HaSettings effective = WithDynamicConfig(mine, config);
  EXPECT_EQ(effective.synchronous_mode, SyncMode::kOn);
  EXPECT_EQ(effective.maximum_lag_on_failover, 1u);
  EXPECT_EQ(effective.synchronous_node_count, 1) << "unset: the agent's own";
  EXPECT_EQ(WithDynamicConfig(mine, std::nullopt).maximum_lag_on_failover, 1u << 20);

  // pg-2 is 0x1000 behind: eligible by its own 1 MiB, not by the store's 1 byte.
  LeaderRecord gone = Lease("pg-0", 2, 7);
  Decision d = Decide(Obs("pg-2", N::kReplica).Replica(1, 0x4FFF000, "pg-0").Leader(gone, kTtl)
                          .View([&](ClusterView& v) { v.config = config; }));
  EXPECT_EQ(d.next, N::kReplica);
  EXPECT_THAT(d.reason, HasSubstr("we may not take over"));
  EXPECT_EQ(d.memory.config, config) << "remembered for when the store is unreachable";
}

TEST(DecideDynamicConfig, PausedMembersKeepTheLeaseButNeitherFailOverNorStartAnything) {
  DynamicConfig paused;
  paused.pause = true;
  auto with_pause = [&](ClusterView& v) { v.config = paused; };
  // The leader renews; nothing else.
  Decision leader = Decide(Obs("pg-0", N::kPrimary).Primary(1, 0x5000000).Leader(Lease("pg-0", 2, 7))
                               .OwnLease(2, 7, Duration(1000)).View(with_pause));
  EXPECT_EQ(Summaries(leader.actions), V{"renew_lease(term 2)"});
  EXPECT_THAT(leader.reason, HasSubstr("paused (maintenance)"));
  // A replica seeing an expired lease does not stand.
  Decision replica = Decide(Obs("pg-1", N::kReplica).Replica(1, 0x5000000, "pg-0")
                                .Leader(Lease("pg-0", 2, 7), kTtl).View(with_pause));
  EXPECT_TRUE(replica.actions.empty());
  EXPECT_FALSE(replica.needs_peer_positions);
  // A stopped member is not started.
  Decision stopped = Decide(Obs("pg-2", N::kStopped).Stopped().Leader(Lease("pg-0", 2, 7)).View(with_pause));
  EXPECT_TRUE(stopped.actions.empty());
  EXPECT_EQ(stopped.next, N::kStopped);
  // The fence still stops a primary that cannot prove its lease.
  Decision fenced = Decide(Obs("pg-0", N::kPrimary).Primary(1, 0x5000000).Leader(Lease("pg-0", 2, 7))
                               .OwnLease(2, 7, kTtl).View(with_pause));
  EXPECT_EQ(Summaries(fenced.actions), V{"stop(immediate)"});
  // While the store is unreachable the last seen pause holds.
  Decision outage = Decide(Obs("pg-1", N::kReplica).Replica(1, 0x5000000, "pg-0").StoreDown()
                               .Memory([&](AgentMemory& m) { m.config = paused; }));
  EXPECT_THAT(outage.reason, HasSubstr("paused"));
}

}  // namespace
}  // namespace pgpilot

namespace pgpilot {
namespace {

TEST(DecideTags, AnEmptyMemberClonesFromAReplicaTaggedClonefromElseFromTheLeader) {
  auto empty = [] {
    return Obs("pg-2", N::kWaiting).DataDir(DataDirKind::kEmpty).Leader(Lease("pg-0", 2, 7));
  };
  Decision leader = Decide(empty());
  EXPECT_EQ(Summaries(leader.actions), V{"clone(" + Ep("pg-0") + ")"});
  ASSERT_TRUE(std::get<Clone>(leader.actions[0]).from_leader);

  Decision replica = Decide(Obs(empty()).View([](ClusterView& v) {
    MemberStatus& pg1 = v.members[1];
    pg1.tags.clonefrom = true;
    pg1.streaming = true;
    pg1.upstream = "pg-0";
  }));
  EXPECT_EQ(Summaries(replica.actions), V{"clone(" + Ep("pg-1") + ")"});
  EXPECT_FALSE(std::get<Clone>(replica.actions[0]).from_leader) << "no slot left on a replica";
  EXPECT_THAT(replica.reason, HasSubstr("tagged clonefrom"));

  // A clonefrom member that does not stream from the leader is not used.
  Decision stale = Decide(Obs(empty()).View([](ClusterView& v) { v.members[1].tags.clonefrom = true; }));
  EXPECT_EQ(Summaries(stale.actions), V{"clone(" + Ep("pg-0") + ")"});
}

}  // namespace
}  // namespace pgpilot

namespace pgpilot {
namespace {

TEST(DecideFailover, TheMemberAnOperatorNamesIsPromotedAndTheOthersWait) {
  LeaderRecord gone = Lease("pg-0", 2, 7);
  auto seen_by = [&](const std::string& me, uint64_t lsn, bool force) {
    return Obs(me, N::kReplica).Synchronous().Replica(1, lsn, "pg-0").Leader(gone, kTtl)
        .Sync("pg-0", {"pg-1"}, 4)
        .View([force](ClusterView& v) {
          v.switchover = SwitchoverRecord{"", "pg-2", {}, WallTime{1'700'000'000'000}, force};
        });
  };
  // pg-2 is outside the sync set and 16 MiB behind: only a forced request promotes it.
  Decision refused = Decide(seen_by("pg-2", 0x4000000, false));
  EXPECT_EQ(refused.next, N::kReplica);
  EXPECT_THAT(refused.reason, HasSubstr("could lose acknowledged commits"));
  Decision forced = Decide(seen_by("pg-2", 0x4000000, true));
  EXPECT_EQ(forced.next, N::kPromoting) << forced.reason;
  EXPECT_FALSE(forced.needs_peer_positions);
  EXPECT_EQ(Summaries(forced.actions),
            (V{"acquire_lease(rev 7)", "write_sync(pg-2:, rev 4)", "append_history(tl 2)", "promote(tl 2)"}));
  EXPECT_THAT(forced.reason, HasSubstr("an operator's failover names us (forced)"));
  // pg-1, the better candidate, waits for the named member.
  Decision other = Decide(seen_by("pg-1", 0x5000000, true));
  EXPECT_TRUE(other.actions.empty());
  EXPECT_THAT(other.reason, HasSubstr("an operator's failover names pg-2"));
  // Two ttls later (the target could not), the request no longer holds the others back.
  Decision later = Decide(Obs(seen_by("pg-1", 0x5000000, true)).View([](ClusterView& v) {
    v.switchover->requested = WallTime{1'700'000'000'000 - 2 * kTtl.count()};
  }));
  EXPECT_TRUE(later.needs_peer_positions) << later.reason;
}

}  // namespace
}  // namespace pgpilot

namespace pgpilot {
namespace {

RequestsRecord Requests(std::vector<MemberRequest> requests, uint64_t revision = 40) {
  return RequestsRecord{std::move(requests), revision};
}
MemberRequest Restart(std::string member, bool only_if_pending = false) {
  return MemberRequest{std::move(member), RequestKind::kRestart, only_if_pending, WallTime{1}, ""};
}
MemberRequest Reinit(std::string member) {
  return MemberRequest{std::move(member), RequestKind::kReinit, false, WallTime{1}, ""};
}

TEST(DecideRequests, ThePrimaryRestartsUnderItsRenewedLeaseAndRemovesOnlyItsRequestFirst) {
  Decision d = Decide(Obs("pg-0", N::kPrimary).Primary(1, 0x5000000).Leader(Lease("pg-0", 2, 7))
                          .OwnLease(2, 7, Duration(1000))
                          .View([](ClusterView& v) { v.requests = Requests({Restart("pg-0"), Restart("pg-1")}); }));
  EXPECT_EQ(d.next, N::kStarting);
  EXPECT_EQ(Summaries(d.actions), (V{"renew_lease(term 2)", "write_requests(pg-1, rev 40)", "stop(fast)",
                                     "start(primary)"}))
      << "the lease first, then the request is removed before PostgreSQL is touched (at most once)";
  EXPECT_THAT(d.reason, HasSubstr("no failover"));
  EXPECT_TRUE(IsLegalTransition(N::kPrimary, d.next));
}

TEST(DecideRequests, AReplicaRestartsFollowingTheLeader) {
  Decision d = Decide(Obs("pg-1", N::kReplica).Replica(1, 0x5000000, "pg-0").Leader(Lease("pg-0", 2, 7))
                          .View([](ClusterView& v) { v.requests = Requests({Restart("pg-1")}); }));
  EXPECT_EQ(d.next, N::kStarting);
  EXPECT_EQ(Summaries(d.actions), (V{"write_requests(, rev 40)", "stop(fast)",
                                     "start(replica of pg-0@10.0.0.10:5432)"}));
}

TEST(DecideRequests, RefusalsAreWrittenForCtlAndTheTickGoesOnAsUsual) {
  // --pending without a pending restart: refused, and the primary still renews its lease first.
  Decision nothing_pending =
      Decide(Obs("pg-0", N::kPrimary).Primary(1, 0x5000000).Leader(Lease("pg-0", 2, 7))
                 .OwnLease(2, 7, Duration(1000))
                 .View([](ClusterView& v) { v.requests = Requests({Restart("pg-0", true)}); }));
  EXPECT_EQ(nothing_pending.next, N::kPrimary);
  ASSERT_FALSE(nothing_pending.actions.empty());
  EXPECT_EQ(Summaries(nothing_pending.actions).front(), "renew_lease(term 2)");
  EXPECT_EQ(Summaries(nothing_pending.actions).back(), "write_requests(pg-0 refused, rev 40)");
  EXPECT_THAT(nothing_pending.reason, HasSubstr("refused: no changed parameter waits for a restart"));

  // ... but with one pending, it restarts.
  Decision pending = Decide(Obs("pg-1", N::kReplica).Replica(1, 0x5000000, "pg-0").Leader(Lease("pg-0", 2, 7))
                                .Local([](LocalState& l) { l.pending_restart = true; })
                                .View([](ClusterView& v) { v.requests = Requests({Restart("pg-1", true)}); }));
  EXPECT_EQ(pending.next, N::kStarting);

  // The leader is never re-initialized.
  Decision leader = Decide(Obs("pg-0", N::kPrimary).Primary(1, 0x5000000).Leader(Lease("pg-0", 2, 7))
                               .OwnLease(2, 7, Duration(1000))
                               .View([](ClusterView& v) { v.requests = Requests({Reinit("pg-0")}); }));
  EXPECT_EQ(leader.next, N::kPrimary);
  EXPECT_THAT(leader.reason, HasSubstr("switch over first"));
  EXPECT_FALSE(HasAction(leader, "stop(fast)"));

  // A refused request is left alone by the agent (ctl reports and removes it).
  Decision again = Decide(Obs("pg-0", N::kPrimary).Primary(1, 0x5000000).Leader(Lease("pg-0", 2, 7))
                              .OwnLease(2, 7, Duration(1000)).View([](ClusterView& v) {
                                MemberRequest refused = Reinit("pg-0");
                                refused.refused = "this member is the leader";
                                v.requests = Requests({refused});
                              }));
  for (const std::string& action : Summaries(again.actions)) EXPECT_THAT(action, Not(HasSubstr("write_requests")));

  // Nothing runs: nothing to restart.
  Decision down = Decide(Obs("pg-2", N::kStopped).Stopped().Leader(Lease("pg-0", 2, 7))
                             .View([](ClusterView& v) { v.requests = Requests({Restart("pg-2")}); }));
  EXPECT_THAT(down.reason, HasSubstr("nothing to restart"));
  EXPECT_TRUE(HasAction(down, "start(replica of pg-0@10.0.0.10:5432)")) << "the usual start goes on";
}

TEST(DecideRequests, AReplicaIsReinitializedByKeepingItsDataAsideThenCloning) {
  auto serving = [](ClusterView& v) { v.members[0].role = "primary"; };
  Decision d = Decide(Obs("pg-1", N::kReplica).Replica(1, 0x5000000, "pg-0").Leader(Lease("pg-0", 2, 7))
                          .View(serving)
                          .View([](ClusterView& v) { v.requests = Requests({Reinit("pg-1")}); }));
  EXPECT_EQ(d.next, N::kWaiting);
  EXPECT_EQ(Summaries(d.actions), (V{"write_requests(, rev 40)", "stop(fast)", "keep_data_dir_aside"}));
  // A leader whose lease is still valid but whose PostgreSQL is not running as the primary (it
  // may be dying): our copy may be the one the cluster needs, so it stays.
  Decision dying = Decide(Obs("pg-1", N::kReplica).Replica(1, 0x5000000, "pg-0").Leader(Lease("pg-0", 2, 7))
                              .View([](ClusterView& v) { v.requests = Requests({Reinit("pg-1")}); }));
  EXPECT_THAT(dying.reason, HasSubstr("does not publish a running primary"));
  EXPECT_FALSE(HasAction(dying, "keep_data_dir_aside"));
  // Nor one that stopped renewing (valid for the rest of its ttl, but maybe dead already).
  Decision silent = Decide(Obs("pg-1", N::kReplica).Replica(1, 0x5000000, "pg-0")
                               .Leader(Lease("pg-0", 2, 7), Duration(5000)).View(serving)
                               .View([](ClusterView& v) { v.requests = Requests({Reinit("pg-1")}); }));
  EXPECT_THAT(silent.reason, HasSubstr("has not renewed its lease for 5.0s"));
  EXPECT_FALSE(HasAction(silent, "keep_data_dir_aside"));
  // Without a valid leader there is nothing to clone from: refused, data untouched.
  Decision alone = Decide(Obs("pg-1", N::kReplica).Replica(1, 0x5000000, "pg-0").Leader(Lease("pg-0", 2, 7), kTtl)
                              .Peers({})
                              .View([](ClusterView& v) { v.requests = Requests({Reinit("pg-1")}); }));
  EXPECT_THAT(alone.reason, HasSubstr("no valid leader"));
  EXPECT_FALSE(HasAction(alone, "keep_data_dir_aside"));
  // Paused: refused (the clone would wait for `ctl resume`).
  DynamicConfig paused;
  paused.pause = true;
  Decision in_pause = Decide(Obs("pg-1", N::kReplica).Replica(1, 0x5000000, "pg-0").Leader(Lease("pg-0", 2, 7))
                                 .View(serving).View([&](ClusterView& v) {
                                   v.config = paused;
                                   v.requests = Requests({Reinit("pg-1")});
                                 }));
  EXPECT_THAT(in_pause.reason, HasSubstr("paused"));
  EXPECT_FALSE(HasAction(in_pause, "keep_data_dir_aside"));
  // A synchronous standby holds the copy that protects acknowledged commits: refused.
  Decision standby = Decide(Obs("pg-1", N::kReplica).Replica(1, 0x5000000, "pg-0").Leader(Lease("pg-0", 2, 7))
                                .Synchronous().Sync("pg-0", {"pg-1"}, 9).View(serving)
                                .View([](ClusterView& v) { v.requests = Requests({Reinit("pg-1")}); }));
  EXPECT_THAT(standby.reason, HasSubstr("synchronous standby"));
  EXPECT_FALSE(HasAction(standby, "keep_data_dir_aside"));
}

TEST(DecideRequests, NothingIsDoneWhileABackgroundTaskRuns) {
  Decision d = Decide(Obs("pg-1", N::kCloning).Task(TaskKind::kClone, true, 3).Leader(Lease("pg-0", 2, 7))
                          .View([](ClusterView& v) { v.requests = Requests({Restart("pg-1")}); }));
  EXPECT_EQ(d.next, N::kCloning);
  EXPECT_TRUE(d.actions.empty()) << "the request waits for the task";
}

TEST(DecideDynamicConfig, TheClusterWideTtlAndLoopWaitApplyWithTheLoopAtMostHalfTheTtl) {
  HaSettings mine;
  mine.ttl = Duration(10000);
  mine.loop_wait = Duration(1000);
  DynamicConfig config;
  config.ttl = Duration(4000);
  HaSettings fast = WithDynamicConfig(mine, config);
  EXPECT_EQ(fast.ttl, Duration(4000));
  EXPECT_EQ(fast.loop_wait, Duration(1000));
  config.ttl = Duration(2000);
  config.loop_wait = Duration(1500);
  EXPECT_EQ(WithDynamicConfig(mine, config).loop_wait, Duration(1000)) << "clamped to ttl / 2";
  config.ttl.reset();
  config.loop_wait = Duration(300);
  EXPECT_EQ(WithDynamicConfig(mine, config).ttl, Duration(10000));
  EXPECT_EQ(WithDynamicConfig(mine, config).loop_wait, Duration(300));
}

}  // namespace
}  // namespace pgpilot
