// Properties of Decide over many generated observations (fixed seeds, so failures reproduce):
//  - random well-formed observations, one at a time: determinism and the safety rules that must
//    hold whatever the input;
//  - random walks of one agent through a simulated world (store, other members, its PostgreSQL,
//    its background tasks, faults and restarts), where each tick's memory is what the previous
//    decision left: additionally, every state change is an edge of the transition table.
#include "core/decide.h"

#include <gtest/gtest.h>

#include <array>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

namespace pgpilot {
namespace {

constexpr char kSys[] = "7301234567890123456";
constexpr char kOtherSys[] = "7309876543210987654";
const std::array<std::string, 3> kNames = {"pg-0", "pg-1", "pg-2"};
const Duration kTtl = Duration(10000);

std::string HostOf(const std::string& name) { return "10.0.0.1" + name.substr(name.size() - 1); }
std::string AddrOf(const std::string& name) { return HostOf(name) + ":5432"; }

MemberStatus Member(const std::string& name) {
  MemberStatus m;
  m.name = name;
  m.host = HostOf(name);
  m.port = 5432;
  m.api_url = "http://" + HostOf(name) + ":8008";
  return m;
}

template <class... Ts>
struct Overloaded : Ts... {
  using Ts::operator()...;
};
template <class... Ts>
Overloaded(Ts...) -> Overloaded<Ts...>;

std::string Ep(const MemberEndpoint& ep) { return ep.name + "@" + ep.host + ":" + std::to_string(ep.port); }

// Every field of an action, for exact comparison.
std::string Fingerprint(const Action& action) {
  return std::visit(
      Overloaded{
          [](const ClaimInitialize& a) { return "claim(" + a.system_id + ")"; },
          [](const CompleteInitialize& a) { return "complete(" + a.system_id + ")"; },
          [](const AbandonInitialize&) { return std::string("abandon"); },
          [](const AcquireLease& a) {
            return "acquire(" + std::to_string(a.expected_revision) + "," + std::to_string(a.expect_absent) + ")";
          },
          [](const RenewLease& a) { return "renew(" + std::to_string(a.term) + ")"; },
          [](const AppendHistory& a) {
            const HistoryEntry& h = a.entry;
            return "history(" + std::to_string(h.timeline) + "," + h.switch_lsn.ToString() + "," +
                   h.old_leader + "," + h.new_leader + "," + std::to_string(h.term) + "," +
                   std::to_string(h.time.unix_ms) + "," + h.reason + ")";
          },
          [](const Bootstrap&) { return std::string("bootstrap"); },
          [](const Clone& a) { return "clone(" + Ep(a.source) + ")"; },
          [](const Rewind& a) { return "rewind(" + Ep(a.source) + ")"; },
          [](const Start& a) {
            return "start(" + std::to_string(static_cast<int>(a.role)) + "," +
                   (a.upstream ? Ep(*a.upstream) : std::string("-")) + ")";
          },
          [](const Stop& a) { return "stop(" + std::to_string(static_cast<int>(a.mode)) + ")"; },
          [](const Promote&) { return std::string("promote"); },
          [](const Follow& a) { return "follow(" + (a.upstream ? Ep(*a.upstream) : std::string("-")) + ")"; },
          [](const EnsureSlots& a) {
            std::string out = "slots(";
            for (const auto& m : a.members) out += m + ",";
            return out + ")";
          },
          [](const ReleaseLease& a) { return "release(" + std::to_string(a.term) + ")"; },
          [](const ClearSwitchover&) { return std::string("clear_switchover"); },
          [](const Checkpoint&) { return std::string("checkpoint"); },
          [](const SetParameters& a) { return "parameters(" + std::to_string(a.parameters.size()) + ")"; },
          [](const WriteSync& a) {
            std::string out = "sync(" + a.record.leader + ":";
            for (const auto& m : a.record.members) out += m + ",";
            return out + std::to_string(a.expected_revision) + "," + std::to_string(a.expect_absent) + ")";
          },
          [](const WriteRequests& a) {
            return "requests(" + std::to_string(a.record.requests.size()) + "," +
                   std::to_string(a.expected_revision) + ")";
          },
          [](const SetSyncStandbys& a) {
            std::string out = "sync_names(";
            for (const auto& m : a.names) out += m + ",";
            return out + ")";
          },
          [](const KeepDataDirAside& a) { return "aside(" + a.why + ")"; },
      },
      action);
}

std::string Fingerprint(const Decision& d) {
  std::string out = std::string(NodeStateName(d.next)) + "|" + d.reason + "|" +
                    std::to_string(d.needs_peer_positions) + "|";
  for (const auto& a : d.actions) out += Fingerprint(a) + ";";
  return out;
}

std::string Describe(const Observation& o) {
  std::string s = "me=" + o.settings.member_name + " state=" + NodeStateName(o.memory.state) +
                  " now=" + std::to_string((o.now - MonoTime{}).count());
  if (!o.view.ok()) {
    s += " store=down";
  } else {
    const ClusterView& v = *o.view;
    s += " init=" + (v.initialize ? v.initialize->claimed_by + (v.initialize->complete() ? "(complete)" : "(claim)")
                                  : std::string("none"));
    if (v.leader) {
      s += " leader=" + v.leader->holder + "/t" + std::to_string(v.leader->term) + "/r" +
           std::to_string(v.leader->revision) + "/tl" + std::to_string(v.leader->timeline) + "/" +
           v.leader->lsn.ToString() + (v.leader->released ? "/released" : "");
    } else {
      s += " leader=none";
    }
    s += " members=" + std::to_string(v.members.size()) + " history=" + std::to_string(v.history.size());
  }
  if (o.memory.leader.record) {
    s += " sighting=r" + std::to_string(o.memory.leader.record->revision) + "@" +
         std::to_string((o.now - o.memory.leader.first_seen).count()) + "ms";
  }
  if (o.memory.lease) {
    s += " lease=t" + std::to_string(o.memory.lease->term) + " sent-" +
         std::to_string((o.now - o.memory.lease->sent_at).count()) + "ms";
  }
  const LocalState& l = o.local;
  s += std::string(" dir=") + DataDirKindName(l.data_dir) + " sys=" + l.system_id +
       " was_primary=" + std::to_string(l.was_primary) + " running=" + std::to_string(l.running) +
       " accepting=" + std::to_string(l.accepting) + " recovery=" + std::to_string(l.in_recovery) +
       " standby_signal=" + std::to_string(l.standby_signal) + " tl=" + std::to_string(l.timeline) +
       " wal=" + l.wal_position.ToString() + " upstream=" + l.upstream + " task=" +
       TaskKindName(l.task.kind) + (l.task.running ? "(running)" : "") + "#" +
       std::to_string(l.task.sequence) + "/seen" + std::to_string(o.memory.task_sequence_seen) +
       (l.task.succeeded ? "" : "(failed)") + " needs_rewind=" + std::to_string(o.memory.needs_rewind) +
       " bootstrap_done=" + std::to_string(o.memory.bootstrap_done) +
       (o.memory.blocked.empty() ? "" : " blocked") + " peers=" + std::to_string(o.peers_collected);
  return s;
}

// Whether this member can prove its lease right now: the fence's precondition, from the
// documented rules (held, renewal sent less than ttl - margin ago, and the store, when readable,
// still shows that very lease).
bool LeaseProvable(const Observation& o) {
  const auto& lease = o.memory.lease;
  if (!lease || o.now >= OwnLeaseDeadline(*lease)) return false;
  if (!o.view.ok()) return true;
  const auto& rec = o.view->leader;
  return rec && rec->holder == o.settings.member_name && rec->term == lease->term && !rec->released;
}

template <class A>
bool Has(const Decision& d) {
  for (const auto& a : d.actions) {
    if (std::holds_alternative<A>(a)) return true;
  }
  return false;
}

// Collects property violations with the situation that produced them; reports the first few.
class Violations {
 public:
  void Add(const std::string& property, const Observation& o, const Decision& d,
           const std::string& history = "") {
    int& n = counts_[property];
    if (++n <= 3) {
      examples_ += "\n[" + property + "]\n  " + Describe(o) + "\n  " + Explain(o.memory.state, d);
      if (!history.empty()) examples_ += "\n  after:" + history;
    }
  }
  bool empty() const { return counts_.empty(); }
  std::string Report() const {
    std::string out;
    for (const auto& [p, n] : counts_) out += p + ": " + std::to_string(n) + " times\n";
    return out + examples_;
  }

 private:
  std::map<std::string, int> counts_;
  std::string examples_;
};

// The rules every single decision obeys, whatever it observed.
// `reachable` is set when the memory is what earlier decisions left (the walks), not made up.
void CheckSafety(const Observation& o, const Decision& d, Violations& v, bool reachable,
                 const std::string& history = "") {
  const LocalState& local = o.local;
  const std::string& me = o.settings.member_name;
  auto fail = [&](const std::string& p) { v.Add(p, o, d); };

  if (d.memory.state != d.next) fail("memory.state carries the next state");
  if (d.reason.empty()) fail("every decision has a reason");
  if (d.needs_peer_positions && !d.actions.empty()) fail("asking for peer positions comes without actions");
  if (d.needs_peer_positions && o.peers_collected) fail("peer positions are asked for only once per tick");

  // The fence: writable without a provable lease -> stopped at once, and nothing else.
  if (local.may_accept_writes() && !LeaseProvable(o)) {
    if (d.actions.size() != 1 || !std::holds_alternative<Stop>(d.actions[0]) ||
        std::get<Stop>(d.actions[0]).mode != StopMode::kImmediate || d.next != NodeState::kDemoting) {
      fail("writable without a provable lease is stopped immediately");
    }
  }
  // A primary state is always backed by a lease this member can prove (made-up memory may claim
  // a primary state for a replica, and a running instance keeps its state in some decisions).
  if (reachable && d.next == NodeState::kPrimary &&
      (!d.memory.lease || o.now >= OwnLeaseDeadline(*d.memory.lease))) {
    v.Add("primary only with a provable lease", o, d, history);
  }

  bool lease_write_before = false;  // an AcquireLease or RenewLease earlier in this decision
  bool claimed_before = false;      // a ClaimInitialize("") earlier in this decision
  for (const Action& a : d.actions) {
    if (!o.view.ok() && (std::holds_alternative<AcquireLease>(a) || std::holds_alternative<RenewLease>(a) ||
                         std::holds_alternative<ClaimInitialize>(a) || std::holds_alternative<Promote>(a) ||
                         std::holds_alternative<Bootstrap>(a) || std::holds_alternative<Clone>(a) ||
                         std::holds_alternative<Rewind>(a))) {
      fail("no store-dependent action while the store is unreachable");
    }
    if (const auto* acq = std::get_if<AcquireLease>(&a)) {
      // Compare-and-swap on exactly what was seen.
      const auto& rec = o.view.ok() ? o.view->leader : std::nullopt;
      if (acq->expect_absent != !rec || (rec && acq->expected_revision != rec->revision)) {
        fail("acquire is a compare-and-swap on the record seen");
      }
      lease_write_before = true;
    }
    if (const auto* renew = std::get_if<RenewLease>(&a)) {
      bool ours_in_memory = d.memory.lease && d.memory.lease->term == renew->term;
      bool ours_in_store = o.view.ok() && o.view->leader && o.view->leader->holder == me &&
                           o.view->leader->term == renew->term;
      if (!ours_in_memory && !ours_in_store) fail("renew only a lease that is ours");
      lease_write_before = true;
    }
    if (const auto* claim = std::get_if<ClaimInitialize>(&a)) {
      if (claim->system_id.empty()) claimed_before = true;
      if (!claim->system_id.empty() && claim->system_id != local.system_id) {
        fail("claim initialize only with our own system identifier");
      }
    }
    bool writable_start = std::holds_alternative<Promote>(a) || std::holds_alternative<Bootstrap>(a) ||
                          (std::holds_alternative<Start>(a) && std::get<Start>(a).role == StartRole::kPrimary);
    if (writable_start && !lease_write_before) {
      fail("promote / start as primary / bootstrap only behind a lease acquire or renewal");
    }
    if (std::holds_alternative<Bootstrap>(a)) {
      bool empty = local.data_dir == DataDirKind::kEmpty || local.data_dir == DataDirKind::kMissing;
      const auto& init = o.view.ok() ? o.view->initialize : std::nullopt;
      bool our_open_claim = init && init->claimed_by == me && !init->complete();
      // With a valid directory, only to resume our own bootstrap (initdb is skipped then).
      bool resume = local.data_dir == DataDirKind::kValid && our_open_claim;
      if (!empty && !resume) fail("bootstrap only into an empty data directory");
      if (!our_open_claim && !(claimed_before && !init)) fail("bootstrap only under our initialize claim");
    }
    if (std::holds_alternative<Clone>(a) && local.data_dir != DataDirKind::kEmpty &&
        local.data_dir != DataDirKind::kMissing) {
      fail("clone only into an empty data directory");
    }
    if (std::holds_alternative<Rewind>(a) && (local.data_dir != DataDirKind::kValid || local.running)) {
      fail("rewind only a stopped, valid data directory");
    }
    if (std::holds_alternative<KeepDataDirAside>(a)) {
      bool rewind_failed = local.task.kind == TaskKind::kRewind && !local.task.running &&
                           !local.task.succeeded && local.task.sequence > o.memory.task_sequence_seen;
      if (local.data_dir != DataDirKind::kIncomplete && !rewind_failed) {
        fail("set aside only an interrupted directory or one whose rewind failed");
      }
      if (local.task.running) fail("never set aside a directory a task is working in");
    }
    bool touches_data = std::holds_alternative<Bootstrap>(a) || std::holds_alternative<Clone>(a) ||
                        std::holds_alternative<Rewind>(a) || std::holds_alternative<KeepDataDirAside>(a) ||
                        std::holds_alternative<Start>(a);
    if (touches_data && local.data_dir == DataDirKind::kForeign) fail("foreign files are never touched");
    if (touches_data && o.view.ok() && o.view->initialize && o.view->initialize->complete() &&
        local.data_dir == DataDirKind::kValid && local.system_id != o.view->initialize->system_id) {
      fail("another cluster's data directory is never touched");
    }
    if (o.view.ok() && o.view->initialize && o.view->initialize->complete() &&
        std::holds_alternative<Bootstrap>(a)) {
      fail("an initialized cluster is never bootstrapped again");
    }
  }
}

// ---- single random observations ---------------------------------------------------------------

class Gen {
 public:
  explicit Gen(uint64_t seed) : rng_(seed) {}
  bool Chance(double p) { return std::uniform_real_distribution<double>(0, 1)(rng_) < p; }
  uint64_t Int(uint64_t lo, uint64_t hi) { return std::uniform_int_distribution<uint64_t>(lo, hi)(rng_); }
  Duration Ms(int64_t lo, int64_t hi) { return Duration(std::uniform_int_distribution<int64_t>(lo, hi)(rng_)); }
  const std::string& Name() { return kNames[Int(0, 2)]; }
  template <class T, size_t N>
  T Pick(const T (&items)[N]) { return items[Int(0, N - 1)]; }

  LeaderRecord Record(MonoTime) {
    LeaderRecord r;
    r.holder = Name();
    r.term = Int(1, 4);
    r.ttl = kTtl;
    r.lsn = Lsn{0x5000000 + Int(0, 3) * 0x80000};
    r.timeline = static_cast<Timeline>(Int(1, 3));
    r.released = Chance(0.2);
    r.revision = Int(1, 6);
    return r;
  }

  Observation Next() {
    Observation o;
    o.settings.member_name = Name();
    o.settings.ttl = kTtl;
    o.settings.maximum_lag_on_failover = 1024 * 1024;
    o.settings.tags.nofailover = Chance(0.1);
    o.now = MonoTime{} + Duration(1'000'000) + Ms(0, 100'000);
    o.wall_now = WallTime{1'700'000'000'000};
    const std::string& me = o.settings.member_name;

    if (Chance(0.1)) {
      o.view = Unavailable("store down");
    } else {
      ClusterView v;
      double r = std::uniform_real_distribution<double>(0, 1)(rng_);
      if (r < 0.55) v.initialize = InitializeRecord{Name(), kSys};
      else if (r < 0.75) v.initialize = InitializeRecord{Name(), ""};
      if (Chance(0.7)) v.leader = Record(o.now);
      for (const auto& n : kNames) {
        if (Chance(0.85)) v.members.push_back(Member(n));
      }
      for (Timeline tl = 2; tl <= 3; ++tl) {
        if (Chance(0.5)) v.history.push_back(HistoryEntry{tl, Lsn{0x5000000 + Int(0, 3) * 0x40000}, 0, "pg-0", "pg-1", 2, {}, "x"});
      }
      o.view = v;
    }

    LocalState& l = o.local;
    const DataDirKind kinds[] = {DataDirKind::kValid, DataDirKind::kValid, DataDirKind::kValid,
                                 DataDirKind::kValid, DataDirKind::kEmpty, DataDirKind::kMissing,
                                 DataDirKind::kIncomplete, DataDirKind::kForeign};
    l.data_dir = Pick(kinds);
    if (l.data_dir == DataDirKind::kValid) {
      l.system_id = Chance(0.9) ? kSys : kOtherSys;
      l.was_primary = Chance(0.4);
      l.timeline = static_cast<Timeline>(Int(1, 3));
      l.wal_position = Lsn{0x5000000 + Int(0, 6) * 0x40000};
      l.running = Chance(0.6);
      if (l.running) {
        l.accepting = Chance(0.8);
        l.in_recovery = l.accepting ? Chance(0.6) : false;
        l.standby_signal = l.accepting ? l.in_recovery : Chance(0.5);
        l.connect_error = l.accepting ? "" : "starting up";
        l.streaming = l.in_recovery && Chance(0.7);
        int u = static_cast<int>(Int(0, 3));
        l.upstream = u == 3 ? "" : AddrOf(kNames[u]);
        l.timeline_switch_lsn = Lsn{0x5000000};
      } else {
        l.standby_signal = !l.was_primary;
      }
    }
    AgentMemory& m = o.memory;
    m.state = kAllNodeStates[Int(0, std::size(kAllNodeStates) - 1)];
    m.task_sequence_seen = Int(0, 3);
    int task = static_cast<int>(Int(0, 4));
    const TaskKind task_kinds[] = {TaskKind::kBootstrap, TaskKind::kClone, TaskKind::kRewind, TaskKind::kStart};
    if (task == 1 || task == 2) {
      l.task = TaskState{Pick(task_kinds), true, m.task_sequence_seen + 1, false, ""};
    } else if (task == 3) {
      bool ok = Chance(0.6);
      l.task = TaskState{Pick(task_kinds), false, m.task_sequence_seen + 1, ok, ok ? "" : "it failed"};
    } else if (m.task_sequence_seen > 0) {
      l.task = TaskState{Pick(task_kinds), false, m.task_sequence_seen, Chance(0.5), ""};
    }
    if (o.view.ok() && o.view->leader && Chance(0.6)) {
      m.leader = LeaderSighting{o.view->leader, o.now - Ms(0, 20000)};
    } else if (Chance(0.3)) {
      m.leader = LeaderSighting{Record(o.now), o.now - Ms(0, 20000)};
    }
    if (Chance(0.5)) {
      uint64_t term = (o.view.ok() && o.view->leader && Chance(0.7)) ? o.view->leader->term : Int(1, 4);
      m.lease = OwnLease{term, Int(1, 6), o.now - Ms(0, 12000), kTtl};
    }
    m.needs_rewind = Chance(0.2);
    m.bootstrap_done = Chance(0.2);
    if (Chance(0.05)) m.blocked = "blocked earlier";
    m.retry_after = o.now + Ms(-5000, 5000);
    if (Chance(0.3)) m.previous_leader = Name();

    if (Chance(0.5)) {
      o.peers_collected = true;
      for (const auto& n : kNames) {
        if (n == me || Chance(0.2)) continue;
        Candidate c{n, Chance(0.85), Chance(0.85), Chance(0.1), static_cast<Timeline>(Int(1, 3)),
                    Lsn{0x5000000 + Int(0, 6) * 0x40000}, ""};
        o.peers.push_back(c);
      }
    }
    return o;
  }

 private:
  std::mt19937_64 rng_;
};

TEST(DecideProperty, RandomObservationsAreDecidedDeterministicallyAndSafely) {
  Gen gen(20261122);
  Violations v;
  std::map<std::string, int> seen_actions;
  const int kIterations = 100'000;
  for (int i = 0; i < kIterations; ++i) {
    Observation o = gen.Next();
    Decision d = Decide(o);
    Decision again = Decide(o);
    if (Fingerprint(d) != Fingerprint(again) || !(d.memory == again.memory)) {
      v.Add("the same observation gives the same decision", o, d);
    }
    CheckSafety(o, d, v, /*reachable=*/false);
    for (const auto& a : d.actions) ++seen_actions[Fingerprint(a).substr(0, Fingerprint(a).find('('))];
  }
  EXPECT_TRUE(v.empty()) << v.Report();
  // The generator must reach the interesting decisions, or the properties above prove little.
  // (complete_initialize needs a whole bootstrap story; the walks below reach it.)
  for (const char* kind : {"bootstrap", "clone", "rewind", "promote", "acquire", "renew", "stop", "start",
                           "follow", "claim", "abandon", "aside", "history", "slots"}) {
    EXPECT_GT(seen_actions[kind], 20) << kind;
  }
}

// ---- random walks through a simulated world ---------------------------------------------------

// One agent in a world it does not control: the other members take, renew and release the lease,
// the store comes and goes, PostgreSQL crashes, tasks fail, the agent restarts. The agent's own
// actions act on the world as the executor would (stopping at the first failure).
class World {
 public:
  World(uint64_t seed, int scenario) : rng_(seed) {
    me_ = kNames[Int(0, 2)];
    now_ = MonoTime{} + Duration(500'000);
    for (const auto& n : kNames) present_.insert(n);
    switch (scenario % 5) {
      case 0:  // a fresh cluster on empty volumes
        local_.data_dir = Chance(0.5) ? DataDirKind::kEmpty : DataDirKind::kMissing;
        break;
      case 1:  // joining a running cluster with an empty volume
        init_ = InitializeRecord{Other(), kSys};
        SetLeader(Other(), 3, 1, false);
        local_.data_dir = DataDirKind::kEmpty;
        break;
      case 2:  // a replica's valid directory, PostgreSQL down
        init_ = InitializeRecord{Other(), kSys};
        SetLeader(Other(), 3, 1, false);
        ValidDir(false);
        break;
      case 3:  // the agent restarted while its PostgreSQL kept running as the primary
        init_ = InitializeRecord{me_, kSys};
        SetLeader(Chance(0.5) ? me_ : Other(), 3, 1, false);
        ValidDir(true);
        local_.running = local_.accepting = true;
        local_.in_recovery = local_.standby_signal = false;
        break;
      case 4:  // an initialized cluster without a leader, directory valid
        init_ = InitializeRecord{me_, kSys};
        ValidDir(Chance(0.5));
        break;
    }
  }

  // One tick of the loop, as HaLoop::Tick runs it; every decision is checked.
  void Tick(Violations& v, std::map<NodeState, int>& states, std::map<std::string, int>& edges) {
    Events();
    Observation o;
    o.settings.member_name = me_;
    o.settings.ttl = kTtl;
    o.settings.maximum_lag_on_failover = 1024 * 1024;
    o.now = now_;
    o.wall_now = WallTime{1'700'000'000'000 + (now_ - MonoTime{}).count()};
    o.view = store_up_ ? Result<ClusterView>(View()) : Result<ClusterView>(Unavailable("store down"));
    o.local = local_;
    o.local.task = task_;
    o.memory = memory_;

    Decision d = Decide(o);
    Decide2(o, d, v);
    if (d.needs_peer_positions) {
      o.peers_collected = true;
      o.peers = Peers();
      d = Decide(o);
      Decide2(o, d, v);
    }
    if (!IsLegalTransition(o.memory.state, d.next)) {
      v.Add(std::string("illegal edge ") + NodeStateName(o.memory.state) + "->" + NodeStateName(d.next), o, d,
            Recent());
    }
    ++states[d.next];
    if (o.memory.state != d.next) {
      ++edges[std::string(NodeStateName(o.memory.state)) + "->" + NodeStateName(d.next)];
    }
    Execute(d);
    recent_.push_back(Describe(o) + "\n      " + Explain(o.memory.state, d));
    if (recent_.size() > 10) recent_.erase(recent_.begin());
  }

 private:
  std::string Recent() const {
    std::string out;
    for (const auto& r : recent_) out += "\n    " + r;
    return out;
  }
  std::vector<std::string> recent_;

  bool Chance(double p) { return std::uniform_real_distribution<double>(0, 1)(rng_) < p; }
  uint64_t Int(uint64_t lo, uint64_t hi) { return std::uniform_int_distribution<uint64_t>(lo, hi)(rng_); }
  const std::string& Other() {
    while (true) {
      const std::string& n = kNames[Int(0, 2)];
      if (n != me_) return n;
    }
  }

  void Decide2(const Observation& o, const Decision& d, Violations& v) {
    if (Fingerprint(Decide(o)) != Fingerprint(d)) v.Add("the same observation gives the same decision", o, d);
    CheckSafety(o, d, v, /*reachable=*/true, Recent());
  }

  void ValidDir(bool was_primary) {
    local_.data_dir = DataDirKind::kValid;
    local_.system_id = kSys;
    local_.was_primary = was_primary;
    local_.standby_signal = !was_primary;
    local_.timeline = 1;
    local_.wal_position = Lsn{0x5000000};
  }

  void SetLeader(const std::string& holder, uint64_t term, Timeline timeline, bool released) {
    leader_ = LeaderRecord{holder, term, kTtl, Lsn{0x5000000 + lsn_drift_}, timeline, released, ++revision_};
  }

  ClusterView View() const {
    ClusterView v;
    v.initialize = init_;
    v.leader = leader_;
    for (const auto& n : present_) v.members.push_back(Member(n));
    v.history = history_;
    return v;
  }

  std::vector<Candidate> Peers() {
    std::vector<Candidate> peers;
    for (const auto& n : present_) {
      if (n == me_) continue;
      Candidate c{n, Chance(0.8), Chance(0.8), Chance(0.1), static_cast<Timeline>(Int(1, 3)),
                  Lsn{local_.wal_position.value + Int(0, 4) * 0x10000 - 0x20000}, ""};
      peers.push_back(c);
    }
    return peers;
  }

  // The world moves on by itself before each tick.
  void Events() {
    // Time: mostly a loop interval, sometimes a burst of wake-ups, sometimes a stall.
    double r = std::uniform_real_distribution<double>(0, 1)(rng_);
    now_ = now_ + Duration(r < 0.7 ? Int(200, 1500) : r < 0.9 ? Int(0, 300) : Int(2000, 15000));
    lsn_drift_ += Int(0, 0x2000);

    if (store_up_ ? Chance(0.03) : Chance(0.3)) store_up_ = !store_up_;
    if (store_up_) {
      bool ours = leader_ && leader_->holder == me_ && !leader_->released;
      if (other_alive_ ? Chance(0.03) : Chance(0.08)) other_alive_ = !other_alive_;
      if (Chance(ours ? 0.005 : 0.04)) {
        // Another member takes the lease (its own view of expiry), maybe promoting to a new timeline.
        Timeline tl = leader_ ? leader_->timeline : 1;
        if (Chance(0.5)) {
          ++tl;
          history_.push_back(HistoryEntry{tl, Lsn{0x5000000 + lsn_drift_}, 0, leader_ ? leader_->holder : "",
                                          Other(), 0, {}, "failover"});
        }
        SetLeader(Other(), (leader_ ? leader_->term : 0) + 1, tl, false);
      } else if (leader_ && leader_->holder != me_ && !leader_->released && other_alive_ && Chance(0.7)) {
        SetLeader(leader_->holder, leader_->term, leader_->timeline, false);  // renewal
      } else if (leader_ && leader_->holder != me_ && !leader_->released && Chance(0.01)) {
        SetLeader(leader_->holder, leader_->term, leader_->timeline, true);  // clean release
      } else if (leader_ && Chance(0.003)) {
        leader_.reset();
      }
      // A member with an empty volume claims the bootstrap only when no lease is valid.
      bool lease_free = !leader_ || leader_->released || (leader_->holder != me_ && !other_alive_);
      if (!init_ && lease_free && Chance(0.05)) init_ = InitializeRecord{Other(), ""};
      else if (init_ && !init_->complete() && init_->claimed_by != me_ && Chance(0.2)) {
        init_->system_id = "sys-" + init_->claimed_by + "-" + std::to_string(++sys_counter_);  // its initdb
      }
      else if (init_ && Chance(0.002)) init_.reset();  // an operator removed the key
      if (Chance(0.02)) {
        const std::string& n = Other();
        if (present_.count(n)) present_.erase(n);
        else present_.insert(n);
      }
    }

    // Background task progress.
    if (task_.running && Chance(0.35)) {
      task_.running = false;
      task_.succeeded = Chance(0.8);
      task_.error = task_.succeeded ? "" : "task failed";
      Finish();
    }
    // PostgreSQL.
    if (local_.running && local_.accepting && local_.in_recovery && promote_pending_ && Chance(0.5)) {
      promote_pending_ = false;
      local_.in_recovery = local_.standby_signal = false;
      local_.timeline_switch_lsn = local_.wal_position;
      ++local_.timeline;
    }
    if (local_.running && Chance(0.02)) Crash();
    if (local_.running && Chance(0.03)) local_.accepting = !local_.accepting;
    // In recovery exactly while standby.signal is there (a promotion removes it); only known
    // while PostgreSQL answers.
    if (local_.running) local_.in_recovery = local_.accepting && local_.standby_signal;
    if (local_.running && local_.accepting) local_.wal_position.value += Int(0, 0x8000);
    if (!local_.running && !task_.running) {
      if (Chance(0.004)) {
        local_ = LocalState{};
        local_.data_dir = DataDirKind::kEmpty;  // an operator wiped the volume
      } else if (Chance(0.002)) {
        local_ = LocalState{};
        local_.data_dir = DataDirKind::kForeign;
        local_.data_dir_detail = "unexpected files";
      } else if (local_.data_dir == DataDirKind::kForeign && Chance(0.2)) {
        local_.data_dir = DataDirKind::kEmpty;  // the operator cleaned up
      }
    }
    // The agent process restarts: its memory and its tasks are gone, PostgreSQL may still run.
    if (Chance(0.01)) {
      memory_ = AgentMemory{};
      task_ = TaskState{};
      promote_pending_ = false;
    }
  }

  void Crash() {
    local_.running = local_.accepting = false;
    if (!local_.in_recovery && !local_.standby_signal) local_.was_primary = true;
    local_.in_recovery = false;
    promote_pending_ = false;
  }

  void Finish() {
    bool ok = task_.succeeded;
    switch (task_.kind) {
      case TaskKind::kBootstrap:
        if (ok) {
          local_.data_dir = DataDirKind::kValid;
          local_.system_id = "sys-" + me_ + "-" + std::to_string(++sys_counter_);
          local_.timeline = 1;
          local_.wal_position = Lsn{0x1000000};
          local_.running = local_.accepting = true;
          local_.in_recovery = local_.standby_signal = false;
          local_.was_primary = true;
        } else if (local_.data_dir != DataDirKind::kValid) {
          local_.data_dir = Chance(0.5) ? DataDirKind::kIncomplete : DataDirKind::kEmpty;
        }
        break;
      case TaskKind::kClone:
        if (ok) {
          local_.data_dir = DataDirKind::kValid;
          local_.system_id = init_ && init_->complete() ? init_->system_id : kSys;
          local_.timeline = leader_ ? leader_->timeline : 1;
          local_.wal_position = leader_ ? leader_->lsn : Lsn{0x5000000};
          local_.was_primary = false;
          local_.standby_signal = true;
          local_.running = false;
        } else {
          local_.data_dir = Chance(0.5) ? DataDirKind::kIncomplete : DataDirKind::kEmpty;
        }
        break;
      case TaskKind::kRewind:
        if (ok) {
          local_.was_primary = false;
          local_.standby_signal = true;
          local_.timeline = leader_ ? leader_->timeline : local_.timeline;
          local_.wal_position = leader_ ? leader_->lsn : local_.wal_position;
        }
        break;
      case TaskKind::kStart:
        if (local_.data_dir != DataDirKind::kValid) break;
        if (ok || Chance(0.3)) {  // a start that timed out may leave a postmaster still recovering
          local_.running = true;
          local_.accepting = ok;
          local_.standby_signal = start_role_ == StartRole::kReplica;
          local_.in_recovery = ok && local_.standby_signal;
          local_.upstream = start_upstream_ ? AddrOf(start_upstream_->name) : "";
          local_.streaming = start_upstream_.has_value();
        }
        break;
      case TaskKind::kNone:
        break;
    }
  }

  bool Launch(TaskKind kind) {
    if (task_.running) return false;
    task_ = TaskState{kind, true, task_.sequence + 1, false, ""};
    return true;
  }

  // The executor: actions in order, stopping at the first that fails.
  void Execute(const Decision& d) {
    memory_ = d.memory;
    for (const Action& a : d.actions) {
      if (!Do(a)) break;
    }
  }

  bool Do(const Action& action) {
    return std::visit(
        Overloaded{
            [&](const ClaimInitialize& a) {
              if (!store_up_ || init_) return false;
              init_ = InitializeRecord{me_, a.system_id};
              return true;
            },
            [&](const CompleteInitialize& a) {
              if (!store_up_ || !init_ || init_->claimed_by != me_ || init_->complete()) return false;
              init_->system_id = a.system_id;
              return true;
            },
            [&](const AbandonInitialize&) {
              if (!store_up_) return false;
              if (init_ && init_->claimed_by == me_ && !init_->complete()) init_.reset();
              return true;
            },
            [&](const AcquireLease& a) {
              if (!store_up_) return false;
              bool match = a.expect_absent ? !leader_ : leader_ && leader_->revision == a.expected_revision;
              if (match && Chance(0.15)) {  // another member won the race
                SetLeader(Other(), (leader_ ? leader_->term : 0) + 1, leader_ ? leader_->timeline : 1, false);
                match = false;
              }
              if (!match) {
                memory_ = ApplyLeaseOutcome(memory_, LeaseOutcome{false, leader_.value_or(LeaderRecord{}), now_});
                return false;
              }
              SetLeader(me_, (leader_ ? leader_->term : 0) + 1, local_.timeline, false);
              leader_->lsn = local_.wal_position;
              memory_ = ApplyLeaseOutcome(memory_, LeaseOutcome{true, *leader_, now_});
              return true;
            },
            [&](const RenewLease& a) {
              if (!store_up_ || Chance(0.03)) return false;  // unreachable or timed out: no answer
              bool ours = leader_ && leader_->holder == me_ && leader_->term == a.term && !leader_->released;
              if (!ours) {
                memory_ = ApplyLeaseOutcome(memory_, LeaseOutcome{false, leader_.value_or(LeaderRecord{}), now_});
                return false;
              }
              SetLeader(me_, a.term, local_.timeline, false);
              leader_->lsn = local_.wal_position;
              memory_ = ApplyLeaseOutcome(memory_, LeaseOutcome{true, *leader_, now_});
              return true;
            },
            [&](const AppendHistory& a) {
              if (!store_up_) return false;
              history_.push_back(a.entry);
              return true;
            },
            [&](const WriteSync&) { return store_up_; },
            [&](const WriteRequests&) { return store_up_; },
            [&](const SetSyncStandbys&) { return true; },
            [&](const ClearSwitchover&) { return store_up_; },
            [&](const Checkpoint&) { return true; },
            [&](const SetParameters&) { return true; },
            [&](const ReleaseLease& a) {
              if (!store_up_) return false;
              bool ours = leader_ && leader_->holder == me_ && leader_->term == a.term && !leader_->released;
              if (ours) leader_->released = true;
              memory_ = ApplyLeaseOutcome(memory_, LeaseOutcome{false, leader_.value_or(LeaderRecord{}), now_});
              return ours;
            },
            [&](const Bootstrap&) {
              if (!Launch(TaskKind::kBootstrap)) return false;
              if (local_.data_dir != DataDirKind::kValid) local_.data_dir = DataDirKind::kIncomplete;
              return true;
            },
            [&](const Clone&) {
              if (!Launch(TaskKind::kClone)) return false;
              local_.data_dir = DataDirKind::kIncomplete;
              return true;
            },
            [&](const Rewind&) { return Launch(TaskKind::kRewind); },
            [&](const Start& a) {
              if (local_.running || !Launch(TaskKind::kStart)) return false;
              start_role_ = a.role;
              start_upstream_ = a.upstream;
              return true;
            },
            [&](const Stop&) {
              if (local_.running) Crash();
              return true;
            },
            [&](const Promote&) {
              if (!local_.running || !local_.accepting || !local_.in_recovery) return false;
              promote_pending_ = true;
              return Chance(0.5);  // pg_promote may time out; the promotion goes on
            },
            [&](const Follow& a) {
              if (!local_.running) return false;
              local_.upstream = a.upstream ? AddrOf(a.upstream->name) : "";
              return true;
            },
            [&](const EnsureSlots&) { return local_.running && local_.accepting && !local_.in_recovery; },
            [&](const KeepDataDirAside&) {
              if (local_.running) return false;
              local_ = LocalState{};
              local_.data_dir = DataDirKind::kMissing;
              return true;
            },
        },
        action);
  }

  std::mt19937_64 rng_;
  std::string me_;
  MonoTime now_;
  uint64_t lsn_drift_ = 0;
  // The store.
  bool store_up_ = true;
  std::optional<InitializeRecord> init_;
  std::optional<LeaderRecord> leader_;
  uint64_t revision_ = 100;
  std::vector<HistoryEntry> history_;
  std::set<std::string> present_;
  bool other_alive_ = true;
  // This member.
  LocalState local_;
  TaskState task_;
  bool promote_pending_ = false;
  StartRole start_role_ = StartRole::kReplica;
  std::optional<MemberEndpoint> start_upstream_;
  AgentMemory memory_;
  int sys_counter_ = 0;
};

TEST(DecideProperty, RandomWalksOnlyTakeLegalTransitionsAndStaySafe) {
  Violations v;
  std::map<NodeState, int> states;
  std::map<std::string, int> edges;
  const int kWalks = 1500;
  const int kTicks = 100;
  for (int walk = 0; walk < kWalks; ++walk) {
    World world(0x9e3779b97f4a7c15ull * static_cast<uint64_t>(walk + 1), walk);
    for (int t = 0; t < kTicks; ++t) world.Tick(v, states, edges);
  }
  EXPECT_TRUE(v.empty()) << v.Report();
  // Every state but init is reached, and the core paths are walked many times over.
  for (NodeState s : kAllNodeStates) {
    if (s != NodeState::kInit) {
      EXPECT_GT(states[s], 20) << NodeStateName(s);
    }
  }
  for (const char* edge : {"replica->promoting", "promoting->primary", "primary->demoting", "init->bootstrapping",
                           "bootstrapping->primary", "waiting->cloning", "demoting->rewinding", "starting->replica"}) {
    EXPECT_GT(edges[edge], 10) << edge;
  }
}

}  // namespace
}  // namespace pgpilot
