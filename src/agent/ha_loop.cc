#include "agent/ha_loop.h"

#include <unistd.h>

#include <thread>

#include "api/peer_client.h"
#include "postgres/commit_fence.h"
#include "platform/log.h"

namespace pgpilot {
namespace {

constexpr Duration kPeerTimeout{1000};
constexpr Duration kRepeatSteadyLogEvery{60000};

bool OnlyRoutine(const std::vector<Action>& actions) {
  for (const auto& a : actions) {
    if (!std::holds_alternative<RenewLease>(a) && !std::holds_alternative<EnsureSlots>(a)) return false;
  }
  return true;
}

}  // namespace

HaLoop::HaLoop(const AgentConfig& config, Store& store, PostgresController& postgres,
               TaskRunner& tasks, FenceWatchdog* watchdog, const Clock& clock, SnapshotBoard& board)
    : config_(config),
      settings_{config.name,
                config.ttl,
                config.loop_wait,
                config.maximum_lag_on_failover,
                config.tags,
                config.synchronous_mode,
                config.synchronous_node_count,
                /*paused=*/false,
                config.commit_fence},
      in_force_(settings_),
      store_(store),
      postgres_(postgres),
      tasks_(tasks),
      executor_(config.name, store, postgres, tasks, clock),
      watchdog_(watchdog),
      clock_(clock),
      board_(board) {
  if (config.commit_fence) commit_fence_ = std::make_unique<CommitFence>(clock);
  executor_.OnLeaseGranted([this](const OwnLease& lease) {
    if (watchdog_ != nullptr) watchdog_->Arm(WatchdogDeadline(lease));
    if (commit_fence_) commit_fence_->ConfirmUntil(OwnLeaseDeadline(lease));
  });
}

HaLoop::~HaLoop() = default;

void HaLoop::SteerCommitFence(const LocalState& local) {
  if (!commit_fence_) return;
  if (memory_.lease && local.running) {
    commit_fence_->ConfirmUntil(OwnLeaseDeadline(*memory_.lease));
    commit_fence_->Target(postgres_.CommitFenceConninfo());
  } else {
    commit_fence_->ConfirmUntil(MonoTime{});
    commit_fence_->Target("");
  }
}

void HaLoop::Run(const std::atomic<bool>& stop) {
  auto token = store_.WaitForChange(~uint64_t{0}, Duration(0));
  if (token.ok()) change_token_ = *token;
  while (!stop.load()) {
    Tick();
    WaitForNextTick(stop);
  }
}

void HaLoop::WaitForNextTick(const std::atomic<bool>& stop) {
  MonoTime wake = NextWakeup(memory_, clock_.Now(), in_force_.loop_wait);
  while (!stop.load()) {
    MonoTime now = clock_.Now();
    if (now >= wake) return;
    Duration slice = std::min<Duration>(wake - now, Duration(100));
    auto token = store_.WaitForChange(change_token_, slice);
    if (!token.ok()) {
      std::this_thread::sleep_for(slice);
    } else if (*token != change_token_) {
      change_token_ = *token;
      return;  // the leader, initialize or the member set changed: decide now
    }
    TaskState task = tasks_.State();
    if (!task.running && task.sequence != task_sequence_at_tick_) return;  // a task finished
  }
}

void HaLoop::Tick() {
  Observation o;
  o.settings = settings_;
  // While we hold the lease, no store call may run past the moment we must fence ourselves:
  // a store that stops answering then fails the call in time for Decide to stop PostgreSQL.
  store_.SetCallDeadline(memory_.lease ? std::optional(OwnLeaseDeadline(*memory_.lease))
                                       : std::nullopt);
  o.view = store_.Load();
  o.local = postgres_.Observe();
  // The time is read after the store answered: a leader record first seen in this view was
  // written before this moment, however slow the read was, so a slow read can never make
  // another member's lease look older than it is.
  o.now = clock_.Now();
  o.wall_now = clock_.WallNow();
  o.local.task = tasks_.State();
  task_sequence_at_tick_ = o.local.task.running ? o.local.task.sequence - 1 : o.local.task.sequence;
  o.memory = memory_;

  Decision d = Decide(o);
  if (d.needs_peer_positions && o.view.ok()) {
    const ApiTlsSettings& tls = config_.api_tls;
    o.peers = CollectPeerPositions(o.view->members, config_.name, kPeerTimeout,
                                   ApiClientTls{tls.ca_file, tls.cert_file, tls.key_file});
    o.peers_collected = true;
    o.now = clock_.Now();
    d = Decide(o);
  }
  LogDecision(memory_.state, d);

  // The cluster-wide ttl and loop_wait (store's `config`) take effect from this decision on.
  in_force_ = WithDynamicConfig(settings_, d.memory.config);
  ExecutionReport report = executor_.Run(d.actions, o.local, in_force_.ttl);
  memory_ = d.memory;
  if (report.lease) memory_ = ApplyLeaseOutcome(memory_, *report.lease);

  if (watchdog_ != nullptr) {
    WatchdogOrder order =
        WatchdogAfterTick(memory_, report.stopped_postgres, o.local);
    if (order.kind == WatchdogOrder::kArm) watchdog_->Arm(order.deadline);
    if (order.kind == WatchdogOrder::kDisarm) watchdog_->Disarm();
  }
  SteerCommitFence(o.local);
  Count(o, report);
  Publish(o, d);
}

MemberStatus HaLoop::BuildMember(const Observation& o, NodeState state, const std::string& reason) const {
  const LocalState& local = o.local;
  MemberStatus m;
  m.name = config_.name;
  m.role = PublishedRole(local);
  m.state = NodeStateName(state);
  m.reason = reason;
  m.api_url = config_.ApiUrl();
  m.host = config_.pg_connect_host;
  m.port = config_.pg_port;
  m.timeline = local.timeline;
  m.wal_position = local.wal_position;
  m.replayed = local.replayed;
  m.streaming = local.streaming;
  if (local.in_recovery && o.view.ok()) {
    for (const auto& other : o.view->members) {
      if (!local.upstream.empty() && other.host + ":" + std::to_string(other.port) == local.upstream) {
        m.upstream = other.name;
      }
    }
  }
  if (memory_.lease) m.term = memory_.lease->term;
  else if (o.view.ok() && o.view->leader) m.term = o.view->leader->term;
  m.tags = config_.tags;
  m.pending_restart = local.pending_restart;
  m.commit_overrides = local.commit_overrides;
  m.version = PGPILOT_VERSION;
  m.agent_pid = getpid();
  m.postgres_pid = local.postgres_pid;
  m.updated = clock_.WallNow();
  return m;
}

void HaLoop::Count(const Observation& o, const ExecutionReport& report) {
  ++counters_.loops;
  if (!report.all_done) ++counters_.decisions_failed;
  if (report.renewal) counters_.RecordLeaseRenewal(report.renewal->latency, report.renewal->granted);
  if (report.promoted) {
    counters_.RecordPromotion(o.view.ok() ? CauseOfPromotion(*o.view, config_.name)
                                          : PromotionCause::kFailover);
  }
}

void HaLoop::Publish(const Observation& o, const Decision& d) {
  MemberStatus member = BuildMember(o, d.next, d.reason);
  Status put = store_.PutMember(member, in_force_.ttl);
  if (!put.ok()) LogDebug("cannot publish member status: " + put.ToString());

  auto snap = std::make_shared<AgentSnapshot>();
  snap->cluster_name = config_.cluster;
  snap->member = member;
  snap->holds_lease = memory_.lease && clock_.Now() < OwnLeaseDeadline(*memory_.lease);
  snap->store_reachable = o.view.ok();
  if (!o.view.ok()) snap->store_error = o.view.error().ToString();
  if (o.view.ok()) snap->cluster = *o.view;
  snap->last_loop = clock_.Now();
  snap->ttl = in_force_.ttl;
  snap->counters = counters_;
  board_.Publish(std::move(snap));
}

void HaLoop::LogDecision(NodeState from, const Decision& d) {
  std::string line = Explain(from, d);
  MonoTime now = clock_.Now();
  bool significant = from != d.next || !OnlyRoutine(d.actions) || line != last_logged_;
  if (!significant && now - last_logged_at_ < kRepeatSteadyLogEvery) return;
  std::string actions;
  for (const Action& action : d.actions) {
    if (!actions.empty()) actions += ", ";
    actions += DescribeAction(action);
  }
  LogFields(LogLevel::kInfo, line,
            {{"cluster", config_.cluster},
             {"member", config_.name},
             {"from", NodeStateName(from)},
             {"state", NodeStateName(d.next)},
             {"reason", d.reason},
             {"actions", actions}});
  last_logged_ = line;
  last_logged_at_ = now;
}

void HaLoop::Shutdown() {
  LogInfo("shutting down: stopping PostgreSQL");
  store_.SetCallDeadline(std::nullopt);
  tasks_.Join();
  Status stopped = postgres_.Stop(StopMode::kFast);
  if (!stopped.ok()) LogError("stopping PostgreSQL failed: " + stopped.ToString());
  LocalState after = postgres_.Observe();
  if (memory_.lease) {
    LeaseRequest req{config_.name, in_force_.ttl, after.wal_position, after.timeline};
    auto released = store_.ReleaseLeader(req, memory_.lease->term);
    if (released.ok() && *released) {
      LogInfo("released the leader lease at " + after.wal_position.ToString() +
              ": a replica with all of our WAL may take over at once");
    } else {
      LogWarn("could not release the leader lease: " +
              (released.ok() ? std::string("it is no longer ours") : released.error().ToString()));
    }
    memory_.lease.reset();
  }
  if (watchdog_ != nullptr && !after.running) watchdog_->Disarm();
  Observation o;
  o.view = store_.Load();
  o.local = after;
  MemberStatus member = BuildMember(o, NodeState::kStopped, "the agent stopped");
  (void)store_.PutMember(member, in_force_.ttl);
}

}  // namespace pgpilot
