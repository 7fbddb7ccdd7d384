#include "sim/sim_world.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <queue>
#include <set>
#include <variant>

#include "core/decide.h"
#include "core/defaults.h"
#include "core/member_requests.h"
#include "sim/sim_postgres.h"
#include "sim/sim_rng.h"
#include "sim/sim_store.h"

namespace pgpilot::sim {
namespace {

constexpr int64_t kStepMs = 50;              // client writes, replication, store watch
constexpr int64_t kRequestTimeoutMs = 2000;  // a store request's own timeout
constexpr int64_t kPeerTimeoutMs = 1000;     // as the agent's peer client
constexpr int64_t kWallEpochMs = 1'700'000'000'000;
constexpr uint64_t kInitialLsn = 0x1000000;

template <class... Ts>
struct Overloaded : Ts... {
  using Ts::operator()...;
};
template <class... Ts>
Overloaded(Ts...) -> Overloaded<Ts...>;

enum class FaultKind {
  kKillPostgres, kKillAgent, kKillBoth, kFreezeAgent, kFreezePostgres, kFreezeBoth,
  kCutFromStore, kIsolate, kCutFromPeers, kStoreOutage, kStoreSlow, kDropResponses, kLoseVolume,
  kSwitchover,     // not a fault: an operator's `ctl switchover` to a random member
  kOperatorRequest,  // not a fault: an operator's `ctl restart` or `ctl reinit` of a random member
  kFreezeMachine,  // only with SimOptions::machine_freeze
};
constexpr const char* kFaultNames[] = {
    "kill -9 postgres",     "kill -9 agent",           "kill -9 agent and postgres",
    "SIGSTOP agent",        "SIGSTOP postgres",        "SIGSTOP agent and postgres",
    "cut from the store",   "isolate from everything", "cut from the other members",
    "store outage",         "store latency spike",     "drop store responses",
    "volume lost (data directory replaced by an empty one)", "switchover requested",
    "restart or reinit requested",
    "freeze the whole machine"};

struct Fault {
  FaultKind kind;
  bool target_primary;  // resolved at fire time: the writable member, else a random one
  int random_target;
  int64_t at;
  int64_t duration;
};

// What one tick of one agent carries from step to step (HaLoop::Tick, cut where it waits).
struct TickState {
  Observation o;
  Decision d;
  std::optional<MonoTime> call_deadline;
  std::optional<LeaseOutcome> lease;
  bool stopped_postgres = false;
};

struct Node {
  std::string name;
  std::string host_port;
  // Clock: local monotonic ns = offset + global_ms * (1e6 + drift_ppm).
  int64_t clock_offset_ns = 0;
  int64_t drift_ppm = 0;
  // Agent process.
  bool agent_alive = false;
  bool agent_frozen = false;
  int generation = 0;
  std::vector<std::function<void()>> deferred;  // events that arrived while frozen
  AgentMemory memory;
  TaskState task;
  int task_generation = 0;
  TickState tick;
  bool waiting = false;
  uint64_t wait_id = 0;
  std::optional<MemberStatus> snapshot;  // what its API serves
  std::string last_logged;
  // Watchdog process.
  bool watchdog_armed = false;
  bool watchdog_expired = false;  // fired, and kills any postmaster that appears until told otherwise
  MonoTime watchdog_deadline;
  bool watchdog_frozen = false;
  bool watchdog_fired_while_frozen = false;
  // PostgreSQL.
  SimPostgres pg;
  int dropping_responses = 0;
  int agent_freezes = 0;    // freeze faults in force on this agent process
  int pg_generation = 0;    // postmaster incarnation: a freeze of an old one ends with it
  int pg_freezes = 0;
  int watchdog_freezes = 0;
  // Synchronous mode: commits of this primary not yet confirmed by its synchronous standbys,
  // as (branch, lsn); the client's sessions, gone with the postmaster.
  std::vector<std::pair<int, uint64_t>> pending_commits;
};

class World {
 public:
  World(uint64_t seed, const SimOptions& options)
      : options_(options), rng_(seed), store_([this] { return now_; }, false) {}

  ScheduleResult Run(uint64_t seed);

 private:
  // --- event loop -----------------------------------------------------------------------------
  void At(int64_t at, std::function<void()> fn) {
    queue_.push(Event{std::max(at, now_), next_seq_++, std::move(fn)});
  }
  // Runs `fn` in agent i's process at `at`: held while it is frozen, dropped if the process of
  // `generation` (default: the current one) has died since.
  void AgentAt(int i, int64_t at, std::function<void()> fn, int generation = -1);
  void Thaw(int i);

  // --- clocks ---------------------------------------------------------------------------------
  MonoTime LocalNow(int i) const {
    const Node& n = nodes_[i];
    return MonoTime{std::chrono::nanoseconds(n.clock_offset_ns + now_ * (1'000'000 + n.drift_ppm))};
  }
  int64_t GlobalAt(int i, MonoTime t) const {
    const Node& n = nodes_[i];
    int64_t rate = 1'000'000 + n.drift_ppm;
    int64_t ns = t.since_epoch.count() - n.clock_offset_ns;
    return ns <= 0 ? 0 : (ns + rate - 1) / rate;
  }

  // --- network --------------------------------------------------------------------------------
  int StoreEndpoint() const { return static_cast<int>(nodes_.size()); }
  int ClientEndpoint() const { return static_cast<int>(nodes_.size()) + 1; }
  bool Connected(int a, int b) const { return cuts_.count({std::min(a, b), std::max(a, b)}) == 0; }
  bool StoreReachable(int i) const { return store_outages_ == 0 && Connected(i, StoreEndpoint()); }
  int64_t Latency() { return rng_.Range(latency_min_, latency_max_); }
  // Faults overlap: each cut, outage and freeze is counted, and healed when its last one ends.
  void Cut(int a, int b) { ++cuts_[{std::min(a, b), std::max(a, b)}]; }
  void Heal(int a, int b) {
    auto it = cuts_.find({std::min(a, b), std::max(a, b)});
    if (it != cuts_.end() && --it->second == 0) cuts_.erase(it);
  }

  template <typename T>
  void StoreCall(int i, std::function<Result<T>()> op, std::function<void(Result<T>)> done);

  // --- the agent (mirrors agent/ha_loop.cc and agent/executor.cc) -------------------------------
  HaSettings Settings(int i) const;
  void StartAgent(int i);
  void StartTick(int i);
  void Observed(int i, Result<ClusterView> view);
  void CollectPeers(int i);
  void Decided(int i);
  void Execute(int i, size_t k);
  void Next(int i, size_t k, Status s);
  void Finish(int i);
  void WaitForNextTick(int i);
  void Wake(int i);
  bool Launch(int i, TaskKind kind, int64_t duration_ms, std::function<Status()> effect);
  MemberStatus BuildMember(int i, const Observation& o, const Decision& d) const;
  void Log(int i, const std::string& line);

  // --- PostgreSQL -----------------------------------------------------------------------------
  Status PgBootstrap(int i);
  Status PgClone(int i, int source);
  Status PgRewind(int i, int source);
  Status PgStart(int i, StartRole role, std::optional<int> upstream);
  void PgStop(int i);
  Status PgPromote(int i, Timeline timeline);
  void Crash(int i);
  void NewPostmaster(int i);  // the postmaster process changed: freezes of the old one end
  int NodeOf(const std::string& host_port_or_name) const;

  // --- the world's step: client writes, replication, watches ----------------------------------
  void Step();
  void Replicate(int i);
  // Synchronous mode: acknowledges the pending commits every standby PostgreSQL waits for has.
  void ReleaseCommits(int i);
  bool Confirmed(int i, const std::pair<int, uint64_t>& commit) const;
  // The commit fence of member i confirms now: its agent runs, unfrozen, under a provable lease.
  bool FenceConfirms(int i) const;
  // Member i can acknowledge a commit now: writable, and its fence (if PostgreSQL waits for it)
  // confirms.
  bool CanAcknowledge(int i) const;
  void Acknowledge(int branch, uint64_t lsn);
  // Following a newer timeline, the WAL receiver first fetches the history file of every number
  // between its timeline and the upstream's; false when the upstream lacks one.
  bool FetchHistoryFiles(SimPostgres& replica, const SimPostgres& upstream) const;
  // The replica's WAL is a prefix of the upstream's and it got the history files to follow it.
  bool CanStreamFrom(SimPostgres& replica, const SimPostgres& upstream) const;

  // --- watchdog -------------------------------------------------------------------------------
  void ArmWatchdog(int i, MonoTime deadline);
  void WatchdogFires(int i);

  // --- faults ---------------------------------------------------------------------------------
  std::vector<Fault> PlanFaults(int64_t from);
  void FreezeAgent(int i, int64_t until);
  void FreezePostgres(int i, int64_t until);
  void Inject(const Fault& f);
  int Target(const Fault& f) const;

  // --- invariants -----------------------------------------------------------------------------
  void CheckInvariants();
  // `safety`: an invariant that must hold whatever the faults (split brain, initdb over data);
  // otherwise a liveness one (convergence within the bound once faults stopped).
  void Violate(const std::string& what, bool safety = true);
  std::optional<std::string> Converged();
  // Synchronous mode: the sync set's leader has no data and no member of the set has any, so the
  // cluster rightly waits for an operator instead of promoting a member that may lack commits.
  bool WaitsForOperatorByDesign();
  std::string Describe() const;
  std::string Stamp() const;
  void Trace(const std::string& line) {
    if (options_.trace) timeline_.push_back(Stamp() + " " + line);
  }

  struct Event {
    int64_t at;
    uint64_t seq;
    std::function<void()> fn;
    bool operator>(const Event& o) const { return at != o.at ? at > o.at : seq > o.seq; }
  };

  SimOptions options_;
  Rng rng_;
  bool server_expiry_ = false;
  SimStore store_;
  WalTree wal_;
  std::vector<Node> nodes_;
  std::vector<std::string> host_ports_;
  std::priority_queue<Event, std::vector<Event>, std::greater<Event>> queue_;
  uint64_t next_seq_ = 0;
  int64_t now_ = 0;
  std::map<std::pair<int, int>, int> cuts_;
  int store_outages_ = 0;
  bool reinit_set_valid_data_aside_ = false;  // an operator's reinit renamed a member's valid data
  int64_t latency_min_ = 1, latency_max_ = 40, base_latency_max_ = 40;
  int slow_spikes_ = 0;  // latency spikes in force
  Duration ttl_{4000};
  Duration loop_wait_{1000};
  uint64_t last_token_ = 0;
  int system_counter_ = 0;

  std::optional<std::string> violation_;
  bool safety_violation_ = false;
  std::vector<std::string> timeline_;
  int faults_ = 0;
  int promotions_ = 0;
  int64_t writes_ = 0;
  std::map<int, uint64_t> acknowledged_;  // branch -> the last acknowledged commit on it
  int sync_count_ = 1;                    // synchronous_node_count of this schedule
};

void World::AgentAt(int i, int64_t at, std::function<void()> fn, int generation) {
  int gen = generation >= 0 ? generation : nodes_[i].generation;
  At(at, [this, i, gen, fn = std::move(fn)]() mutable {
    Node& n = nodes_[i];
    if (n.generation != gen || !n.agent_alive) return;
    if (n.agent_frozen) {
      n.deferred.push_back(std::move(fn));
      return;
    }
    fn();
  });
}

void World::Thaw(int i) {
  Node& n = nodes_[i];
  n.agent_frozen = false;
  std::vector<std::function<void()>> pending;
  pending.swap(n.deferred);
  for (auto& fn : pending) AgentAt(i, now_, std::move(fn));
}

template <typename T>
void World::StoreCall(int i, std::function<Result<T>()> op, std::function<void(Result<T>)> done) {
  Node& n = nodes_[i];
  int gen = n.generation;  // the response goes to the process that asked, or nowhere
  int64_t limit = now_ + kRequestTimeoutMs;
  if (n.tick.call_deadline) limit = std::min(limit, GlobalAt(i, *n.tick.call_deadline));
  auto fail = [done](const std::string& why) { return [done, why] { done(Unavailable(why)); }; };
  if (limit <= now_) {
    AgentAt(i, now_, fail("no time left before our lease deadline"), gen);
    return;
  }
  int64_t to_store = Latency();
  int64_t back = Latency();
  if (!StoreReachable(i) || now_ + to_store >= limit) {
    AgentAt(i, limit, fail("store request timed out"), gen);
    return;
  }
  At(now_ + to_store, [this, i, gen, op, done, back, limit, fail] {
    if (!StoreReachable(i)) {
      AgentAt(i, limit, fail("store request timed out"), gen);
      return;
    }
    Result<T> r = op();  // applied: whatever happens to the response
    bool lost = nodes_[i].dropping_responses > 0 && rng_.Percent(40);
    if (lost || now_ + back >= limit) {
      AgentAt(i, limit, fail("store response timed out"), gen);
      return;
    }
    AgentAt(i, now_ + back, [this, i, gen, done, r = std::move(r), limit, fail]() {
      // The response may have been cut off on the way back.
      if (!StoreReachable(i)) {
        AgentAt(i, limit, fail("store response lost"), gen);
        return;
      }
      done(r);
    }, gen);
  });
}

HaSettings World::Settings(int i) const {
  HaSettings s;
  s.member_name = nodes_[i].name;
  s.ttl = ttl_;
  s.loop_wait = loop_wait_;
  s.synchronous_mode = options_.sync_mode;
  s.synchronous_node_count = sync_count_;
  s.commit_fence = options_.commit_fence;
  return s;
}

void World::StartAgent(int i) {
  Node& n = nodes_[i];
  n.generation++;
  n.agent_alive = true;
  n.agent_frozen = false;
  n.agent_freezes = 0;
  n.deferred.clear();
  n.memory = AgentMemory{};
  n.task = TaskState{};
  n.waiting = false;
  n.snapshot.reset();
  n.last_logged.clear();
  Trace(n.name + " agent started");
  AgentAt(i, now_, [this, i] { StartTick(i); });
}

void World::StartTick(int i) {
  Node& n = nodes_[i];
  n.waiting = false;
  TickState fresh;
  fresh.o.settings = Settings(i);
  if (n.memory.lease) fresh.call_deadline = OwnLeaseDeadline(*n.memory.lease);
  n.tick = std::move(fresh);
  StoreCall<ClusterView>(i, [this] { return store_.Load(); },
                         [this, i](Result<ClusterView> view) { Observed(i, std::move(view)); });
}

void World::Observed(int i, Result<ClusterView> view) {
  Node& n = nodes_[i];
  TickState& t = n.tick;
  t.o.view = std::move(view);
  t.o.local = n.pg.Observe(wal_, host_ports_);
  if (t.o.local.is_running_primary()) {
    // pg_stat_replication and the setting in effect.
    t.o.local.synchronous_standby_names = SynchronousStandbyNames(n.pg.sync_standbys, n.pg.commit_fence);
    for (size_t j = 0; j < nodes_.size(); ++j) {
      const SimPostgres& r = nodes_[j].pg;
      if (static_cast<int>(j) == i || !r.running || r.frozen || r.upstream != i || !r.streaming ||
          !Connected(i, static_cast<int>(j))) {
        continue;
      }
      t.o.local.standbys.push_back(StandbyProgress{nodes_[j].name, true, Lsn{r.lsn}});
    }
  }
  t.o.now = LocalNow(i);  // as HaLoop::Tick: after the store answered
  t.o.wall_now = WallTime{kWallEpochMs + now_};
  t.o.local.task = n.task;
  t.o.memory = n.memory;
  t.d = DecideAs(options_.variant, t.o);
  if (t.d.needs_peer_positions && t.o.view.ok()) {
    CollectPeers(i);
    return;
  }
  Decided(i);
}

void World::CollectPeers(int i) {
  Node& n = nodes_[i];
  std::vector<Candidate> peers;
  int64_t slowest = 0;
  for (const MemberStatus& m : n.tick.o.view->members) {
    if (m.name == n.name) continue;
    int j = NodeOf(m.name);
    const Node* peer = j >= 0 ? &nodes_[j] : nullptr;
    bool answers = peer != nullptr && Connected(i, j) && peer->agent_alive && !peer->agent_frozen &&
                   peer->snapshot.has_value();
    if (answers) {
      peers.push_back(CandidateFromMember(*peer->snapshot));
      slowest = std::max<int64_t>(slowest, rng_.Range(1, 10));
    } else {
      Candidate c;
      c.name = m.name;
      c.error = "timed out";
      peers.push_back(c);
      slowest = kPeerTimeoutMs;
    }
  }
  AgentAt(i, now_ + slowest, [this, i, peers = std::move(peers)] {
    TickState& t = nodes_[i].tick;
    t.o.peers = peers;
    t.o.peers_collected = true;
    t.o.now = LocalNow(i);
    t.d = DecideAs(options_.variant, t.o);
    Decided(i);
  });
}

void World::Log(int i, const std::string& line) {
  Node& n = nodes_[i];
  if (line == n.last_logged) return;
  n.last_logged = line;
  Trace(n.name + " " + line);
}

void World::Decided(int i) {
  Node& n = nodes_[i];
  if (options_.trace) Log(i, Explain(n.memory.state, n.tick.d));
  Execute(i, 0);
}

void World::Next(int i, size_t k, Status s) {
  if (k >= nodes_[i].tick.d.actions.size()) {
    Violate("simulator bug: a stale continuation of " + nodes_[i].name);
    return;
  }
  if (!s.ok()) {
    Trace(nodes_[i].name + " action failed: " + DescribeAction(nodes_[i].tick.d.actions[k]) + ": " +
          s.error().message);
    Finish(i);
    return;
  }
  AgentAt(i, now_ + 1, [this, i, k] { Execute(i, k + 1); });
}

void World::Execute(int i, size_t k) {
  Node& n = nodes_[i];
  TickState& t = n.tick;
  if (k >= t.d.actions.size()) {
    Finish(i);
    return;
  }
  const std::string me = n.name;
  LeaseRequest request{me, ttl_, t.o.local.wal_position, t.o.local.timeline};
  auto then_status = [this, i, k](Result<bool> r, const char* refused) {
    if (!r.ok()) return Next(i, k, r.error());
    Next(i, k, *r ? Status::Ok() : Status(FailedPrecondition(refused)));
  };
  auto lease_write = [this, i, k](MonoTime sent) {
    return [this, i, k, sent](Result<LeaseWrite> w) {
      if (!w.ok()) return Next(i, k, w.error());
      nodes_[i].tick.lease = LeaseOutcome{w->granted, w->record.value_or(LeaderRecord{}), sent};
      // As the executor's lease listener: the watchdog is armed before the next action runs.
      if (w->granted && !DisablesWatchdog(options_.variant)) {
        ArmWatchdog(i, WatchdogDeadline(LeaseGranted(*nodes_[i].tick.lease)));
      }
      Next(i, k, w->granted ? Status::Ok() : Status(FailedPrecondition("the lease changed")));
    };
  };
  std::visit(
      Overloaded{
          [&](const ClaimInitialize& a) {
            StoreCall<bool>(i, [this, me, a] { return store_.ClaimInitialize(me, a.system_id); },
                            [then_status](Result<bool> r) { then_status(r, "initialize exists"); });
          },
          [&](const CompleteInitialize& a) {
            StoreCall<bool>(i, [this, me, a] { return store_.CompleteInitialize(me, a.system_id); },
                            [then_status](Result<bool> r) { then_status(r, "not our claim"); });
          },
          [&](const AbandonInitialize&) {
            StoreCall<bool>(i, [this, me] { return store_.AbandonInitialize(me); },
                            [then_status](Result<bool> r) {
                              then_status(r.ok() ? Result<bool>(true) : r, "");
                            });
          },
          [&](const AcquireLease& a) {
            std::optional<uint64_t> expected;
            if (!a.expect_absent) expected = a.expected_revision;
            StoreCall<LeaseWrite>(
                i, [this, request, expected] { return store_.AcquireLeader(request, expected); },
                lease_write(LocalNow(i)));
          },
          [&](const RenewLease& a) {
            uint64_t term = a.term;
            StoreCall<LeaseWrite>(i, [this, request, term] { return store_.RenewLeader(request, term); },
                                  lease_write(LocalNow(i)));
          },
          [&](const AppendHistory& a) {
            StoreCall<bool>(i,
                            [this, a]() -> Result<bool> {
                              Status s = store_.AppendHistory(a.entry);
                              if (!s.ok()) return s.error();
                              return true;
                            },
                            [then_status](Result<bool> r) { then_status(r, ""); });
          },
          [&](const ReleaseLease& a) {
            // After the stop: the position the shutdown ended at.
            LeaseRequest released{me, ttl_, Lsn{n.pg.lsn}, wal_.TimelineOf(n.pg.branch)};
            uint64_t term = a.term;
            StoreCall<bool>(i, [this, released, term] { return store_.ReleaseLeader(released, term); },
                            [this, i, k](Result<bool> r) {
                              nodes_[i].tick.lease = LeaseOutcome{false, LeaderRecord{}, MonoTime{}};
                              if (!r.ok()) return Next(i, k, r.error());
                              Next(i, k, *r ? Status::Ok() : Status(FailedPrecondition("not ours")));
                            });
          },
          [&](const ClearSwitchover&) {
            StoreCall<bool>(i,
                            [this]() -> Result<bool> {
                              Status s = store_.ClearSwitchover();
                              if (!s.ok()) return s.error();
                              return true;
                            },
                            [then_status](Result<bool> r) { then_status(r, ""); });
          },
          [&](const Checkpoint&) { Next(i, k, Status::Ok()); },
          [&](const SetParameters&) { Next(i, k, Status::Ok()); },
          [&](const WriteSync& a) {
            std::optional<uint64_t> expected;
            if (!a.expect_absent) expected = a.expected_revision;
            StoreCall<bool>(i, [this, a, expected] { return store_.WriteSync(a.record, expected); },
                            [then_status](Result<bool> r) {
                              then_status(r, "the sync key changed meanwhile");
                            });
          },
          [&](const WriteRequests& a) {
            StoreCall<bool>(i, [this, a] { return store_.WriteRequests(a.record, a.expected_revision); },
                            [then_status](Result<bool> r) {
                              then_status(r, "the requests key changed meanwhile");
                            });
          },
          [&](const Bootstrap&) {
            bool ok = Launch(i, TaskKind::kBootstrap, rng_.Range(500, 2500), [this, i] { return PgBootstrap(i); });
            Next(i, k, ok ? Status::Ok() : Status(FailedPrecondition("a task is running")));
          },
          [&](const Clone& a) {
            int source = NodeOf(a.source.name);
            bool ok = Launch(i, TaskKind::kClone, rng_.Range(500, 3000),
                             [this, i, source] { return PgClone(i, source); });
            Next(i, k, ok ? Status::Ok() : Status(FailedPrecondition("a task is running")));
          },
          [&](const Rewind& a) {
            int source = NodeOf(a.source.name);
            bool ok = Launch(i, TaskKind::kRewind, rng_.Range(300, 2000),
                             [this, i, source] { return PgRewind(i, source); });
            Next(i, k, ok ? Status::Ok() : Status(FailedPrecondition("a task is running")));
          },
          [&](const Start& a) {
            std::optional<int> upstream;
            if (a.upstream) upstream = NodeOf(a.upstream->name);
            StartRole role = a.role;
            bool ok = Launch(i, TaskKind::kStart, rng_.Range(200, 1500),
                             [this, i, role, upstream] { return PgStart(i, role, upstream); });
            Next(i, k, ok ? Status::Ok() : Status(FailedPrecondition("a task is running")));
          },
          [&](const Stop&) {
            PgStop(i);
            t.stopped_postgres = true;
            Next(i, k, Status::Ok());
          },
          [&](const Promote& a) {
            if (n.pg.running && n.pg.frozen) {
              AgentAt(i, now_ + kPromoteWait.count(),
                      [this, i, k] { Next(i, k, Unavailable("pg_promote timed out")); });
              return;
            }
            Next(i, k, PgPromote(i, a.timeline));
          },
          [&](const Follow& a) {
            n.pg.upstream = a.upstream ? NodeOf(a.upstream->name) : -1;
            n.pg.streaming = false;
            Next(i, k, Status::Ok());
          },
          [&](const EnsureSlots&) { Next(i, k, Status::Ok()); },
          [&](const SetSyncStandbys& a) {
            n.pg.sync_standbys = a.names;
            n.pg.commit_fence = a.commit_fence;
            Next(i, k, Status::Ok());
          },
          [&](const KeepDataDirAside& a) {
            if (n.pg.running) return Next(i, k, FailedPrecondition("PostgreSQL is running"));
            if (n.pg.data == DataDirKind::kValid && a.why == kReinitAsideReason) reinit_set_valid_data_aside_ = true;
            n.pg = SimPostgres{.aside_count = n.pg.aside_count + 1};
            Trace(n.name + " data directory kept aside");
            Next(i, k, Status::Ok());
          },
      },
      t.d.actions[k]);
}

void World::Finish(int i) {
  Node& n = nodes_[i];
  TickState& t = n.tick;
  n.memory = t.d.memory;
  if (t.lease) n.memory = ApplyLeaseOutcome(n.memory, *t.lease);
  if (!DisablesWatchdog(options_.variant)) {
    WatchdogOrder order = WatchdogAfterTick(n.memory, t.stopped_postgres, t.o.local);
    if (order.kind == WatchdogOrder::kArm) ArmWatchdog(i, order.deadline);
    if (order.kind == WatchdogOrder::kDisarm) {
      n.watchdog_armed = false;
      n.watchdog_expired = false;
    }
  }
  MemberStatus member = BuildMember(i, t.o, t.d);
  t.call_deadline = n.memory.lease ? std::optional(OwnLeaseDeadline(*n.memory.lease)) : std::nullopt;
  StoreCall<bool>(
      i,
      [this, member]() -> Result<bool> {
        Status s = store_.PutMember(member, ttl_);
        if (!s.ok()) return s.error();
        return true;
      },
      [this, i, member](Result<bool>) {
        nodes_[i].snapshot = member;
        WaitForNextTick(i);
      });
}

void World::WaitForNextTick(int i) {
  Node& n = nodes_[i];
  MonoTime wake = NextWakeup(n.memory, LocalNow(i), loop_wait_);
  n.waiting = true;
  uint64_t id = ++n.wait_id;
  AgentAt(i, GlobalAt(i, wake), [this, i, id] {
    if (nodes_[i].waiting && nodes_[i].wait_id == id) StartTick(i);
  });
}

void World::Wake(int i) {
  Node& n = nodes_[i];
  if (!n.agent_alive || !n.waiting) return;
  uint64_t id = ++n.wait_id;
  AgentAt(i, now_ + 1, [this, i, id] {
    if (nodes_[i].waiting && nodes_[i].wait_id == id) StartTick(i);
  });
}

bool World::Launch(int i, TaskKind kind, int64_t duration_ms, std::function<Status()> effect) {
  Node& n = nodes_[i];
  if (n.task.running) return false;
  n.task.kind = kind;
  n.task.running = true;
  n.task.sequence += 1;
  n.task.succeeded = false;
  n.task.error.clear();
  n.task.retryable = false;
  int gen = n.generation;
  // The work (initdb, pg_basebackup, pg_rewind, pg_ctl start) runs in child processes: its effect
  // lands even if the agent is frozen meanwhile; the agent hears of it when it runs again.
  At(now_ + duration_ms, [this, i, gen, effect = std::move(effect)] {
    if (nodes_[i].generation != gen) return;  // the agent died; Crash() settled the task
    Status s = effect();
    AgentAt(i, now_, [this, i, s] {
      Node& node = nodes_[i];
      node.task.running = false;
      node.task.succeeded = s.ok();
      node.task.error = s.ok() ? "" : s.error().message;
      node.task.retryable = !s.ok() && s.error().code == ErrorCode::kUnavailable;
      Wake(i);
    });
  });
  return true;
}

MemberStatus World::BuildMember(int i, const Observation& o, const Decision& d) const {
  const Node& n = nodes_[i];
  const LocalState& local = o.local;
  MemberStatus m;
  m.name = n.name;
  m.role = PublishedRole(local);
  m.state = NodeStateName(d.next);
  m.reason = d.reason;
  auto colon = n.host_port.find(':');
  m.host = n.host_port.substr(0, colon);
  m.port = std::stoi(n.host_port.substr(colon + 1));
  m.api_url = "http://" + m.host + ":8008";
  m.timeline = local.timeline;
  m.wal_position = local.wal_position;
  m.replayed = local.replayed;
  m.streaming = local.streaming;
  if (local.in_recovery && n.pg.upstream >= 0) m.upstream = nodes_[n.pg.upstream].name;
  if (n.memory.lease) m.term = n.memory.lease->term;
  else if (o.view.ok() && o.view->leader) m.term = o.view->leader->term;
  m.updated = WallTime{kWallEpochMs + now_};
  return m;
}

// --- PostgreSQL ---------------------------------------------------------------------------------

int World::NodeOf(const std::string& name) const {
  for (size_t j = 0; j < nodes_.size(); ++j) {
    if (nodes_[j].name == name || nodes_[j].host_port == name) return static_cast<int>(j);
  }
  return -1;
}

Status World::PgBootstrap(int i) {
  SimPostgres& pg = nodes_[i].pg;
  if (pg.data == DataDirKind::kValid) {
    // Idempotent: our own earlier initdb; start it as the primary.
    if (!pg.running) NewPostmaster(i);
    pg.running = true;
  pg.clean_shutdown = false;
    pg.in_recovery = false;
    pg.standby_signal = false;
    return Status::Ok();
  }
  if (pg.data != DataDirKind::kEmpty && pg.data != DataDirKind::kMissing) {
    Violate(nodes_[i].name + " ran initdb over a data directory that was not empty");
    return FailedPrecondition("data directory not empty");
  }
  if (store_.initialize() && store_.initialize()->complete()) {
    Violate(nodes_[i].name + " ran initdb although the cluster is initialized (system " +
            store_.initialize()->system_id + "): a second, empty cluster");
  }
  pg.data = DataDirKind::kValid;
  pg.system_id = "7" + std::to_string(100000 + ++system_counter_);
  pg.branch = wal_.NewRoot();
  pg.lsn = kInitialLsn;
  pg.history_files.clear();
  pg.was_primary = true;
  pg.standby_signal = false;
  NewPostmaster(i);
  pg.running = true;
  pg.in_recovery = false;
  pg.upstream = -1;
  Trace(nodes_[i].name + " initdb: system " + pg.system_id);
  return Status::Ok();
}

Status World::PgClone(int i, int source) {
  SimPostgres& pg = nodes_[i].pg;
  if (pg.data != DataDirKind::kEmpty && pg.data != DataDirKind::kMissing) {
    return FailedPrecondition("pg_basebackup: data directory not empty");
  }
  if (source < 0 || !Connected(i, source) || !nodes_[source].pg.running || nodes_[source].pg.frozen ||
      nodes_[source].pg.data != DataDirKind::kValid) {
    return Unavailable("pg_basebackup: could not connect to the source");
  }
  const SimPostgres& src = nodes_[source].pg;
  pg.data = DataDirKind::kValid;
  pg.system_id = src.system_id;
  pg.branch = src.branch;
  pg.lsn = src.lsn;
  pg.history_files = src.history_files;
  pg.was_primary = false;
  pg.standby_signal = true;
  pg.upstream = source;
  pg.running = false;
  Trace(nodes_[i].name + " cloned from " + nodes_[source].name);
  return Status::Ok();
}

Status World::PgRewind(int i, int source) {
  SimPostgres& pg = nodes_[i].pg;
  if (pg.running) return FailedPrecondition("pg_rewind: target server must be shut down");
  if (source < 0 || !Connected(i, source) || !nodes_[source].pg.running || nodes_[source].pg.frozen) {
    return Unavailable("pg_rewind: could not connect to the source (CHECKPOINT failed)");
  }
  const SimPostgres& src = nodes_[source].pg;
  if (src.system_id != pg.system_id) return FailedPrecondition("pg_rewind: different systems");
  pg.standby_signal = true;
  pg.upstream = source;
  pg.history_files.insert(src.history_files.begin(), src.history_files.end());
  // As PgController::Rewind: a source still in recovery (promoting) is refused, retryably.
  if (src.in_recovery) return Unavailable("pg_rewind: the source is not a primary yet (in recovery)");
  // Real pg_rewind compares timelines only: on the same one it changes nothing, even when the
  // target went further than the source.
  if (src.branch == pg.branch || wal_.Contains(src.branch, src.lsn, pg.branch, pg.lsn)) {
    Trace(nodes_[i].name + " pg_rewind: no rewind required");
    return Status::Ok();
  }
  if (rng_.Percent(5)) return FailedPrecondition("pg_rewind: could not find a common checkpoint");
  pg.branch = src.branch;
  pg.lsn = src.lsn;
  pg.was_primary = false;
  Trace(nodes_[i].name + " pg_rewind from " + nodes_[source].name + " done");
  return Status::Ok();
}

Status World::PgStart(int i, StartRole role, std::optional<int> upstream) {
  SimPostgres& pg = nodes_[i].pg;
  if (pg.data != DataDirKind::kValid) return FailedPrecondition("no valid data directory");
  if (pg.running) return FailedPrecondition("PostgreSQL is already running");
  pg.standby_signal = role == StartRole::kReplica;
  pg.upstream = role == StartRole::kReplica && upstream ? *upstream : -1;
  NewPostmaster(i);
  pg.running = true;
  pg.in_recovery = role == StartRole::kReplica;
  pg.streaming = false;
  if (!pg.in_recovery) pg.was_primary = true;
  const Node& n = nodes_[i];
  if (n.watchdog_expired && !n.watchdog_frozen) {
    // The watchdog sees postmaster.pid before PostgreSQL accepts connections.
    Crash(i);
    Trace(n.name + " watchdog: killed a postmaster that started after the lease deadline");
    return Unavailable("PostgreSQL was killed while starting");
  }
  return Status::Ok();
}

void World::PgStop(int i) {
  SimPostgres& pg = nodes_[i].pg;
  if (!pg.running) return;
  if (!pg.in_recovery && !pg.frozen) {
    // A clean shutdown of a primary sends its WAL to the connected replicas first.
    for (size_t j = 0; j < nodes_.size(); ++j) {
      SimPostgres& r = nodes_[j].pg;
      if (static_cast<int>(j) != i && r.running && !r.frozen && r.in_recovery && r.upstream == i &&
          Connected(i, static_cast<int>(j)) && CanStreamFrom(r, pg)) {
        r.branch = pg.branch;
        r.lsn = pg.lsn;
      }
    }
  }
  pg.clean_shutdown = !pg.in_recovery && !pg.frozen;
  pg.running = false;
  pg.streaming = false;
  NewPostmaster(i);
  Trace(nodes_[i].name + " postgres stopped");
}

Status World::PgPromote(int i, Timeline timeline) {
  SimPostgres& pg = nodes_[i].pg;
  if (!pg.running) return FailedPrecondition("PostgreSQL is not running");
  if (!pg.in_recovery) return Status::Ok();
  // As PgController::Promote: history files for the numbers a reservation skips, then
  // PostgreSQL takes the first number after its newest history file without a gap.
  Timeline current = wal_.TimelineOf(pg.branch);
  for (Timeline t = current + 1; t < timeline; ++t) pg.history_files.insert(t);
  Timeline taken = current + 1;
  while (pg.history_files.count(taken) > 0) ++taken;
  pg.history_files.insert(taken);
  pg.branch = wal_.Fork(pg.branch, pg.lsn, taken);
  pg.lsn += 40;  // the end-of-recovery record, on the new timeline
  if (wal_.CountNumbered(taken) > 1) {
    Violate(nodes_[i].name + " created a second, different timeline numbered " + std::to_string(taken));
  }
  pg.in_recovery = false;
  pg.was_primary = true;
  pg.standby_signal = false;
  pg.upstream = -1;
  pg.streaming = false;
  ++promotions_;
  Trace(nodes_[i].name + " promoted: timeline " + std::to_string(wal_.TimelineOf(pg.branch)) +
        " from " + Lsn{pg.lsn}.ToString());
  return Status::Ok();
}

void World::Crash(int i) {
  SimPostgres& pg = nodes_[i].pg;
  pg.clean_shutdown = false;
  pg.running = false;
  pg.streaming = false;
  NewPostmaster(i);
}

void World::NewPostmaster(int i) {
  Node& n = nodes_[i];
  ++n.pg_generation;
  n.pg_freezes = 0;
  n.pg.frozen = false;
  n.pending_commits.clear();
}

// --- the world's step ---------------------------------------------------------------------------

bool World::CanStreamFrom(SimPostgres& replica, const SimPostgres& upstream) const {
  return wal_.Contains(upstream.branch, upstream.lsn, replica.branch, replica.lsn) &&
         FetchHistoryFiles(replica, upstream);
}

bool World::FetchHistoryFiles(SimPostgres& replica, const SimPostgres& upstream) const {
  Timeline mine = wal_.TimelineOf(replica.branch), theirs = wal_.TimelineOf(upstream.branch);
  for (Timeline t = mine + 1; t <= theirs; ++t) {
    if (replica.history_files.count(t) == 0 && upstream.history_files.count(t) == 0) return false;
  }
  for (Timeline t = mine + 1; t <= theirs; ++t) replica.history_files.insert(t);
  return true;
}

void World::Replicate(int i) {
  SimPostgres& r = nodes_[i].pg;
  if (!r.running || r.frozen || !r.in_recovery) return;
  int u = r.upstream;
  bool up = u >= 0 && u != i && Connected(i, u) && nodes_[u].pg.running && !nodes_[u].pg.frozen &&
            nodes_[u].pg.system_id == r.system_id;
  if (!up) {
    r.streaming = false;
    return;
  }
  const SimPostgres& src = nodes_[u].pg;
  r.streaming = CanStreamFrom(r, src);
  if (!r.streaming) return;  // diverged, or a history file missing: the WAL receiver keeps failing
  if (rng_.Percent(70)) {
    r.branch = src.branch;
    r.lsn = src.lsn;
  }
}

void World::Step() {
  // The client writes to every member that accepts writes and that it can reach.
  for (size_t i = 0; i < nodes_.size(); ++i) {
    SimPostgres& pg = nodes_[i].pg;
    if (pg.Writable() && Connected(static_cast<int>(i), ClientEndpoint())) {
      pg.lsn += static_cast<uint64_t>(rng_.Range(100, 4000));
      if (options_.sync_mode == SyncMode::kOff && !pg.commit_fence) {
        Acknowledge(pg.branch, pg.lsn);
      } else {
        nodes_[i].pending_commits.emplace_back(pg.branch, pg.lsn);
      }
    }
  }
  for (size_t i = 0; i < nodes_.size(); ++i) Replicate(static_cast<int>(i));
  for (size_t i = 0; i < nodes_.size(); ++i) ReleaseCommits(static_cast<int>(i));
  // Watches: a change of leader, initialize or member set wakes the agents that can see it.
  uint64_t token = store_.change_token();
  if (token != last_token_) {
    last_token_ = token;
    for (size_t i = 0; i < nodes_.size(); ++i) {
      if (StoreReachable(static_cast<int>(i))) {
        int j = static_cast<int>(i);
        At(now_ + Latency(), [this, j] { Wake(j); });
      }
    }
  }
  At(now_ + kStepMs, [this] { Step(); });
}

bool World::FenceConfirms(int i) const {
  const Node& n = nodes_[i];
  return n.agent_alive && !n.agent_frozen && n.memory.lease && LocalNow(i) < OwnLeaseDeadline(*n.memory.lease);
}

bool World::CanAcknowledge(int i) const {
  const SimPostgres& pg = nodes_[i].pg;
  return pg.Writable() && (!pg.commit_fence || FenceConfirms(i));
}

bool World::Confirmed(int i, const std::pair<int, uint64_t>& commit) const {
  if (nodes_[i].pg.commit_fence && !FenceConfirms(i)) return false;
  for (const std::string& name : nodes_[i].pg.sync_standbys) {
    int j = NodeOf(name);
    if (j < 0 || j == i) return false;  // e.g. strict mode's name nobody has
    const SimPostgres& r = nodes_[j].pg;
    bool connected = r.running && !r.frozen && r.in_recovery && r.upstream == i && r.streaming &&
                     Connected(i, j);
    if (!connected || !wal_.Contains(r.branch, r.lsn, commit.first, commit.second)) return false;
  }
  return true;
}

void World::ReleaseCommits(int i) {
  Node& n = nodes_[i];
  auto& pending = n.pending_commits;
  if (pending.empty()) return;
  if (!n.pg.running || n.pg.in_recovery) {
    pending.clear();  // the sessions waiting for the commits are gone: outcome unknown
    return;
  }
  if (n.pg.frozen) return;
  size_t done = 0;
  while (done < pending.size() && Confirmed(i, pending[done])) {
    Acknowledge(pending[done].first, pending[done].second);
    ++done;
  }
  pending.erase(pending.begin(), pending.begin() + static_cast<std::ptrdiff_t>(done));
}

void World::Acknowledge(int branch, uint64_t lsn) {
  ++writes_;
  uint64_t& last = acknowledged_[branch];
  last = std::max(last, lsn);
}

// --- watchdog -----------------------------------------------------------------------------------

void World::ArmWatchdog(int i, MonoTime deadline) {
  Node& n = nodes_[i];
  n.watchdog_armed = true;
  n.watchdog_expired = false;
  n.watchdog_deadline = deadline;
  At(GlobalAt(i, deadline), [this, i, deadline] {
    Node& node = nodes_[i];
    if (!node.watchdog_armed || node.watchdog_deadline != deadline) return;
    if (node.watchdog_frozen) {
      node.watchdog_fired_while_frozen = true;
      return;
    }
    WatchdogFires(i);
  });
}

void World::WatchdogFires(int i) {
  Node& n = nodes_[i];
  n.watchdog_armed = false;
  n.watchdog_expired = n.agent_alive;  // a watchdog whose agent is gone fires once and exits
  if (n.pg.running) {
    Crash(i);
    Trace(n.name + " watchdog: lease deadline passed, killed postgres");
  }
}

// --- faults -------------------------------------------------------------------------------------

std::vector<Fault> World::PlanFaults(int64_t from) {
  std::vector<Fault> plan;
  int count = static_cast<int>(rng_.Range(1, std::max(1, options_.max_faults)));
  int kinds = options_.machine_freeze ? 16 : 15;
  int64_t ttl = ttl_.count();
  for (int k = 0; k < count; ++k) {
    Fault f;
    f.kind = static_cast<FaultKind>(rng_.Range(0, kinds - 1));
    f.target_primary = rng_.Percent(60);
    f.random_target = static_cast<int>(rng_.Range(0, static_cast<int64_t>(nodes_.size()) - 1));
    f.at = from + rng_.Range(0, 30000);
    f.duration = rng_.Range(200, 3 * ttl);
    plan.push_back(f);
  }
  return plan;
}

int World::Target(const Fault& f) const {
  if (f.target_primary) {
    for (size_t i = 0; i < nodes_.size(); ++i) {
      if (nodes_[i].pg.Writable()) return static_cast<int>(i);
    }
  }
  return f.random_target;
}

void World::Inject(const Fault& f) {
  int i = Target(f);
  Node& n = nodes_[i];
  ++faults_;
  std::string what = kFaultNames[static_cast<int>(f.kind)];
  bool global = f.kind == FaultKind::kStoreOutage || f.kind == FaultKind::kStoreSlow;
  Trace("FAULT " + what + (global ? "" : " on " + n.name) + " for " +
        FormatSeconds(Duration(f.duration)));
  auto later = [this, f](std::function<void()> heal) { At(f.at + f.duration, std::move(heal)); };
  auto kill_agent = [this](int j) {
    Node& node = nodes_[j];
    node.agent_alive = false;
    node.generation++;
    node.watchdog_expired = false;  // with its agent gone, a fired watchdog exits
    if (node.watchdog_armed) {
      // The killed agent's watchdog process lives on, armed: it fires once at its deadline and
      // exits. The restarted agent starts a watchdog of its own.
      node.watchdog_armed = false;
      At(GlobalAt(j, node.watchdog_deadline), [this, j] {
        if (nodes_[j].pg.running) {
          Crash(j);
          Trace(nodes_[j].name + " the killed agent's watchdog: lease deadline passed, killed postgres");
        }
      });
    }
    if (node.task.running) {
      // Children die with the agent: an interrupted initdb or clone leaves a partial directory;
      // a started postmaster keeps running; pg_rewind is assumed to leave the directory as it was.
      if ((node.task.kind == TaskKind::kClone || node.task.kind == TaskKind::kBootstrap) &&
          (node.pg.data == DataDirKind::kEmpty || node.pg.data == DataDirKind::kMissing)) {
        node.pg.data = DataDirKind::kIncomplete;
      }
    }
  };
  auto restart_agent = [this, i] { StartAgent(i); };
  switch (f.kind) {
    case FaultKind::kKillPostgres:
      Crash(i);
      break;
    case FaultKind::kKillAgent:
      kill_agent(i);
      later(restart_agent);
      break;
    case FaultKind::kKillBoth:
      kill_agent(i);
      Crash(i);
      later(restart_agent);
      break;
    case FaultKind::kFreezeAgent:
      FreezeAgent(i, f.at + f.duration);
      break;
    case FaultKind::kFreezePostgres:
      FreezePostgres(i, f.at + f.duration);
      break;
    case FaultKind::kFreezeBoth:
      FreezeAgent(i, f.at + f.duration);
      FreezePostgres(i, f.at + f.duration);
      break;
    case FaultKind::kFreezeMachine:
      FreezeAgent(i, f.at + f.duration);
      FreezePostgres(i, f.at + f.duration);
      ++n.watchdog_freezes;
      n.watchdog_frozen = true;
      later([this, i] {
        Node& node = nodes_[i];
        if (--node.watchdog_freezes > 0) return;
        node.watchdog_frozen = false;
        if (node.watchdog_fired_while_frozen && node.watchdog_armed &&
            GlobalAt(i, node.watchdog_deadline) <= now_) {
          WatchdogFires(i);
        }
        node.watchdog_fired_while_frozen = false;
      });
      break;
    case FaultKind::kCutFromStore:
      Cut(i, StoreEndpoint());
      later([this, i] { Heal(i, StoreEndpoint()); });
      break;
    case FaultKind::kIsolate:
    case FaultKind::kCutFromPeers: {
      bool everything = f.kind == FaultKind::kIsolate;
      for (int j = 0; j < ClientEndpoint() + 1; ++j) {
        bool peer = j < static_cast<int>(nodes_.size());
        if (j != i && (peer || everything)) Cut(i, j);
      }
      later([this, i, everything] {
        for (int j = 0; j < ClientEndpoint() + 1; ++j) {
          bool peer = j < static_cast<int>(nodes_.size());
          if (j != i && (peer || everything)) Heal(i, j);
        }
      });
      break;
    }
    case FaultKind::kStoreOutage:
      ++store_outages_;
      later([this] { --store_outages_; });
      break;
    case FaultKind::kStoreSlow:
      // By default up to the lease margin each way.
      if (slow_spikes_++ == 0) {
        int64_t spike = options_.spike_latency_ms > 0 ? options_.spike_latency_ms : LeaseMargin(ttl_).count();
        latency_max_ = std::max<int64_t>(base_latency_max_, spike);
      }
      later([this] {
        if (--slow_spikes_ == 0) latency_max_ = base_latency_max_;
      });
      break;
    case FaultKind::kSwitchover: {
      // As `ctl switchover` does: a request to the current leader, for another member.
      std::optional<LeaderRecord> leader = store_.Leader();
      if (!leader || leader->released) break;
      int to = f.random_target == NodeOf(leader->holder)
                   ? (f.random_target + 1) % static_cast<int>(nodes_.size())
                   : f.random_target;
      (void)store_.RequestSwitchover(
          SwitchoverRecord{leader->holder, nodes_[to].name, WallTime{}, WallTime{kWallEpochMs + now_}});
      Trace("switchover from " + leader->holder + " to " + nodes_[to].name + " requested");
      break;
    }
    case FaultKind::kOperatorRequest: {
      // As `ctl restart` and `ctl reinit` do: a request added to the store's `requests` key.
      auto view = store_.Load();
      if (!view.ok()) break;
      RequestsRecord record = view->requests.value_or(RequestsRecord{});
      MemberRequest request{nodes_[f.random_target].name,
                            f.duration % 2 == 0 ? RequestKind::kRestart : RequestKind::kReinit, false,
                            WallTime{kWallEpochMs + now_}, ""};
      record.Put(request);
      (void)store_.WriteRequests(record, view->requests ? std::optional<uint64_t>(view->requests->revision)
                                                        : std::nullopt);
      Trace(std::string(request.kind == RequestKind::kRestart ? "restart" : "reinit") + " of " +
            request.member + " requested");
      break;
    }
    case FaultKind::kDropResponses:
      ++n.dropping_responses;
      later([this, i] { --nodes_[i].dropping_responses; });
      break;
    case FaultKind::kLoseVolume: {
      // Only a volume whose every byte another member also holds is lost: losing the one copy
      // of some WAL may leave no member that can safely take over, and an initialized cluster
      // is never initdb'd again (that waits for an operator by design). In synchronous mode
      // that member must also be one the sync set allows to take over.
      bool other_copy = n.pg.data != DataDirKind::kValid;
      for (size_t j = 0; j < nodes_.size() && !other_copy; ++j) {
        const SimPostgres& o = nodes_[j].pg;
        bool may_take_over = options_.sync_mode == SyncMode::kOff ||
                             !OutsideSyncSet(store_.sync(), nodes_[j].name);
        other_copy = static_cast<int>(j) != i && o.data == DataDirKind::kValid && may_take_over &&
                     wal_.Contains(o.branch, o.lsn, n.pg.branch, n.pg.lsn);
      }
      kill_agent(i);
      Crash(i);
      // An operator's new, empty volume: the old one is gone, not by pgpilot's hand.
      if (other_copy) n.pg = SimPostgres{.aside_count = n.pg.aside_count};
      later(restart_agent);
      break;
    }
  }
}

void World::FreezeAgent(int i, int64_t until) {
  Node& n = nodes_[i];
  int gen = n.generation;
  ++n.agent_freezes;
  n.agent_frozen = true;
  At(until, [this, i, gen] {
    Node& node = nodes_[i];
    if (node.generation == gen && --node.agent_freezes == 0) Thaw(i);
  });
}

void World::FreezePostgres(int i, int64_t until) {
  Node& n = nodes_[i];
  if (!n.pg.running) return;  // nothing to stop
  int gen = n.pg_generation;
  ++n.pg_freezes;
  n.pg.frozen = true;
  At(until, [this, i, gen] {
    Node& node = nodes_[i];
    if (node.pg_generation == gen && --node.pg_freezes == 0) node.pg.frozen = false;
  });
}

// --- invariants ---------------------------------------------------------------------------------

void World::Violate(const std::string& what, bool safety) {
  if (violation_) return;
  violation_ = "t=" + FormatSeconds(Duration(now_)) + ": " + what;
  safety_violation_ = safety;
  Trace("VIOLATION " + what);
}

void World::CheckInvariants() {
  // With the commit fence, a thawed old primary may accept a write into its WAL, but it can never
  // acknowledge one: what clients see is what must never come from two members.
  int writable = -1;
  for (size_t i = 0; i < nodes_.size(); ++i) {
    int k = static_cast<int>(i);
    if (options_.commit_fence ? !CanAcknowledge(k) : !nodes_[i].pg.Writable()) continue;
    if (writable >= 0) {
      Violate(std::string(options_.commit_fence ? "two members acknowledge writes at once: "
                                                : "two members accept writes at once: ") + nodes_[writable].name + " (timeline " +
              std::to_string(wal_.TimelineOf(nodes_[writable].pg.branch)) + ") and " + nodes_[i].name +
              " (timeline " + std::to_string(wal_.TimelineOf(nodes_[i].pg.branch)) + ")");
      return;
    }
    writable = static_cast<int>(i);
  }
  if (writable < 0 || options_.sync_mode == SyncMode::kOff) return;
  const SimPostgres& pg = nodes_[writable].pg;
  for (const auto& [branch, lsn] : acknowledged_) {
    if (!wal_.Contains(pg.branch, pg.lsn, branch, lsn)) {
      Violate("an acknowledged write is lost: " + nodes_[writable].name + " accepts writes on timeline " +
              std::to_string(wal_.TimelineOf(pg.branch)) + " at " + Lsn{pg.lsn}.ToString() +
              " without the commit acknowledged on timeline " + std::to_string(wal_.TimelineOf(branch)) +
              " at " + Lsn{lsn}.ToString());
      return;
    }
  }
}

std::optional<std::string> World::Converged() {
  auto leader = store_.Leader();
  if (!leader || leader->released) return "no leader";
  int p = NodeOf(leader->holder);
  if (p < 0 || !nodes_[p].pg.Writable()) return "leader " + leader->holder + " is not writable";
  for (size_t i = 0; i < nodes_.size(); ++i) {
    const Node& n = nodes_[i];
    if (static_cast<int>(i) == p) continue;
    if (!n.agent_alive) return n.name + " has no agent";
    if (!n.pg.running || !n.pg.in_recovery) return n.name + " is not a running replica";
    if (n.pg.upstream != p || !n.pg.streaming) return n.name + " is not streaming from " + leader->holder;
  }
  return std::nullopt;
}

bool World::WaitsForOperatorByDesign() {
  // An operator's reinit set valid data aside and no member holds data any more (the leader died
  // meanwhile): pgpilot never takes data set aside back by itself.
  bool no_data = std::none_of(nodes_.begin(), nodes_.end(),
                              [](const Node& n) { return n.pg.data == DataDirKind::kValid; });
  if (reinit_set_valid_data_aside_ && no_data) return true;
  const std::optional<SyncRecord>& sync = store_.sync();
  if (options_.sync_mode == SyncMode::kOff || !sync) return false;
  std::vector<std::string> holders = sync->members;
  holders.push_back(sync->leader);
  return std::none_of(holders.begin(), holders.end(), [&](const std::string& name) {
    int j = NodeOf(name);
    return j >= 0 && nodes_[j].pg.data == DataDirKind::kValid;
  });
}

std::string World::Stamp() const {
  char buf[32];
  std::snprintf(buf, sizeof buf, "[%8.3fs]", static_cast<double>(now_) / 1000.0);
  return buf;
}

std::string World::Describe() const {
  std::string s;
  for (const Node& n : nodes_) {
    if (!s.empty()) s += "; ";
    s += n.name + ": agent " + (n.agent_alive ? NodeStateName(n.memory.state) : "dead") +
         ", postgres " + (n.pg.running ? (n.pg.in_recovery ? "replica" : "primary") : "down");
    if (n.pg.data == DataDirKind::kValid) {
      s += " tl " + std::to_string(wal_.TimelineOf(n.pg.branch)) + " at " + Lsn{n.pg.lsn}.ToString();
      if (n.pg.upstream >= 0) s += " upstream " + nodes_[n.pg.upstream].name;
    }
  }
  return s;
}

ScheduleResult World::Run(uint64_t seed) {
  ScheduleResult result;
  result.seed = seed;
  int n = options_.nodes;
  static constexpr int64_t kTtls[] = {2000, 4000, 10000};
  ttl_ = Duration(kTtls[rng_.Range(0, 2)]);
  if (options_.ttl_ms > 0) ttl_ = Duration(options_.ttl_ms);
  static constexpr int64_t kLoops[] = {250, 500, 1000};
  loop_wait_ = Duration(std::min<int64_t>(kLoops[rng_.Range(0, 2)], ttl_.count() / 2));
  if (options_.variant == Variant::kOutsideSyncSet && options_.sync_mode == SyncMode::kOff) {
    options_.sync_mode = SyncMode::kOn;  // the variant only means something there
  }
  if (options_.sync_mode != SyncMode::kOff) sync_count_ = static_cast<int>(rng_.Range(1, n - 2));
  latency_min_ = options_.latency_min_ms;
  latency_max_ = base_latency_max_ = std::max(options_.latency_min_ms, options_.latency_max_ms);
  server_expiry_ = rng_.Percent(50);
  store_ = SimStore([this] { return now_; }, server_expiry_);
  for (int i = 0; i < n; ++i) {
    Node node;
    node.name = "pg-" + std::to_string(i);
    node.host_port = "10.0.0." + std::to_string(i + 1) + ":5432";
    node.clock_offset_ns = rng_.Range(0, 1'000'000'000'000);
    node.drift_ppm = rng_.Range(-options_.max_drift_ppm, options_.max_drift_ppm);
    nodes_.push_back(node);
    host_ports_.push_back(nodes_.back().host_port);
  }
  result.settings = std::to_string(n) + " nodes, ttl " + FormatSeconds(ttl_) + ", loop " +
                    FormatSeconds(loop_wait_) + ", " +
                    (server_expiry_ ? "store-side lease expiry (etcd)" : "observer-judged expiry") +
                    ", latency " + std::to_string(latency_min_) + "-" + std::to_string(latency_max_) +
                    " ms, synchronous mode " + SyncModeName(options_.sync_mode) +
                    (options_.sync_mode == SyncMode::kOff ? "" : " (" + std::to_string(sync_count_) + ")") +
                    ", drift ppm";
  for (const Node& node : nodes_) result.settings += " " + std::to_string(node.drift_ppm);
  Trace("schedule seed " + std::to_string(seed) + ": " + result.settings +
        (options_.variant == Variant::kNone ? "" : std::string(", UNSAFE variant ") + VariantName(options_.variant)));

  for (int i = 0; i < n; ++i) {
    At(rng_.Range(0, 2000), [this, i] { StartAgent(i); });
  }
  At(0, [this] { Step(); });

  int64_t bound = 3 * ttl_.count() + 30000;
  int64_t phase_end = bound;  // the bootstrap must converge within the bound too
  bool faults_planned = false;
  int64_t healed_at = 0;
  int64_t converged_since = -1;  // -1: not converged
  while (!queue_.empty() && !violation_) {
    Event e = queue_.top();
    queue_.pop();
    now_ = e.at;
    e.fn();
    CheckInvariants();
    if (violation_) break;
    if (e.at % kStepMs != 0) continue;  // judge convergence on the world's step boundaries
    auto why_not = Converged();
    if (!why_not) {
      if (converged_since < 0) converged_since = now_;
      if (!faults_planned && now_ - converged_since >= 2000) {
        // Bootstrapped: plan the faults from here.
        faults_planned = true;
        std::vector<Fault> plan = PlanFaults(now_ + rng_.Range(0, 5000));
        for (const Fault& f : plan) {
          At(f.at, [this, f] { Inject(f); });
          healed_at = std::max(healed_at, f.at + f.duration);
        }
        phase_end = healed_at + bound;
        converged_since = -1;
      } else if (faults_planned && now_ - std::max(converged_since, healed_at) >= 2000) {
        result.convergence_ms = std::max<int64_t>(0, converged_since - healed_at);
        break;
      }
    } else {
      converged_since = -1;
      if (now_ >= phase_end && faults_planned && WaitsForOperatorByDesign()) {
        result.operator_needed = true;
        Trace("the sync set's leader lost its data and no member of the set has any: waiting for "
              "an operator, by design");
        break;
      }
      if (now_ >= phase_end) {
        Violate(std::string(faults_planned ? "no convergence within " : "bootstrap did not converge within ") +
                FormatSeconds(Duration(bound)) + (faults_planned ? " after the last fault healed: " : ": ") +
                *why_not + " (" + Describe() + ")", /*safety=*/false);
      }
    }
  }
  result.simulated_ms = now_;
  result.violation = violation_;
  result.safety_violation = safety_violation_;
  result.faults = faults_;
  result.promotions = promotions_;
  result.writes_acknowledged = writes_;
  result.timeline = std::move(timeline_);
  return result;
}

}  // namespace

ScheduleResult RunSchedule(uint64_t seed, const SimOptions& options) {
  World world(seed, options);
  return world.Run(seed);
}

}  // namespace pgpilot::sim
