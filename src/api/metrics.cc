#include "api/metrics.h"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstddef>
#include <initializer_list>
#include <string_view>
#include <utility>
#include <vector>

#include "core/node_state.h"

namespace pgpilot {
namespace {

// Indexes into kFamilies, in the order the families are written.
enum Family : size_t {
  kRole,
  kState,
  kPostgresUp,
  kLeader,
  kStoreReachable,
  kTimeline,
  kWalWritePosition,
  kWalReceivePosition,
  kWalReplayPosition,
  kReplicationLag,
  kClusterTimelineSwitches,
  kLeaseTtl,
  kLeaseRenewDuration,
  kLeaseRenewLastDuration,
  kLeaseRenewFailures,
  kLoops,
  kLastLoopAge,
  kDecisionsFailed,
  kPromotions,
  kFamilyCount,
};

constexpr MetricFamily kFamilies[] = {
    {"pgpilot_role", MetricType::kGauge,
     "1 for the role the member publishes (label role: primary, replica, starting, stopped, "
     "uninitialized), 0 for the others."},
    {"pgpilot_state", MetricType::kGauge,
     "1 for the member's HA state after the last decision (label state), 0 for the others."},
    {"pgpilot_postgres_up", MetricType::kGauge,
     "1 when the local PostgreSQL runs and answered the agent's queries in the last loop."},
    {"pgpilot_leader", MetricType::kGauge,
     "1 while this agent holds the leader lease (by its own lease deadline)."},
    {"pgpilot_store_reachable", MetricType::kGauge, "1 when the last loop could read the store."},
    {"pgpilot_timeline", MetricType::kGauge, "Timeline of the local PostgreSQL (0: unknown)."},
    {"pgpilot_wal_write_position_bytes", MetricType::kGauge,
     "Primary only: the current WAL write position (pg_current_wal_lsn), in bytes."},
    {"pgpilot_wal_receive_position_bytes", MetricType::kGauge,
     "Replica only: the WAL position received from the upstream (or replayed, if further), in "
     "bytes."},
    {"pgpilot_wal_replay_position_bytes", MetricType::kGauge,
     "Replica only: the WAL position replayed, in bytes."},
    {"pgpilot_replication_lag_bytes", MetricType::kGauge,
     "Bytes each replica (label replica) is behind the leader, from the WAL positions the members "
     "last published in the store, as this agent last read them."},
    {"pgpilot_cluster_timeline_switches", MetricType::kGauge,
     "Timeline switches (promotions) recorded in the cluster's history in the store."},
    {"pgpilot_lease_ttl_seconds", MetricType::kGauge, "The leader lease's time to live in force."},
    {"pgpilot_lease_renew_duration_seconds", MetricType::kHistogram,
     "Time from sending a renewal of this agent's leader lease to the store's answer (or error)."},
    {"pgpilot_lease_renew_last_duration_seconds", MetricType::kGauge,
     "Duration of the last renewal of this agent's leader lease."},
    {"pgpilot_lease_renew_failures_total", MetricType::kCounter,
     "Renewals of this agent's leader lease that the store refused or did not answer."},
    {"pgpilot_loops_total", MetricType::kCounter, "HA loops the agent completed."},
    {"pgpilot_last_loop_age_seconds", MetricType::kGauge,
     "Seconds since the HA loop last completed (it publishes what /metrics serves)."},
    {"pgpilot_decisions_failed_total", MetricType::kCounter,
     "Loops whose decided actions stopped at a failed or refused action."},
    {"pgpilot_promotions_total", MetricType::kCounter,
     "Promotions of the local PostgreSQL this agent performed, by cause (failover, switchover)."},
};
static_assert(std::size(kFamilies) == kFamilyCount, "one entry per Family");

// The roles PublishedRole gives (core/local_state.h).
constexpr std::string_view kRoles[] = {"primary", "replica", "starting", "stopped", "uninitialized"};

const char* TypeName(MetricType type) {
  switch (type) {
    case MetricType::kGauge: return "gauge";
    case MetricType::kCounter: return "counter";
    case MetricType::kHistogram: return "histogram";
  }
  return "untyped";
}

std::string Number(uint64_t value) { return std::to_string(value); }

// The shortest text that reads back as the same double.
std::string Number(double value) {
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, value);
  return ec == std::errc() ? std::string(buf, end) : std::string("NaN");
}

std::string Seconds(std::chrono::nanoseconds d) {
  return Number(std::chrono::duration<double>(d).count());
}

std::string Flag(bool on) { return on ? "1" : "0"; }

// Label values: backslash, double quote and newline escaped.
std::string EscapeLabelValue(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

// HELP text: backslash and newline escaped.
std::string EscapeHelp(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

struct Label {
  std::string_view name;
  std::string_view value;
};

// Writes samples family by family; a family's HELP and TYPE come before its first sample.
class Exposition {
 public:
  explicit Exposition(std::vector<Label> common) {
    for (const Label& l : common) {
      common_ += std::string(l.name) + "=\"" + EscapeLabelValue(l.value) + "\",";
    }
  }

  // `suffix`: "_bucket", "_sum" or "_count" for a histogram's series.
  void Add(Family family, std::initializer_list<Label> labels, const std::string& value,
           std::string_view suffix = "") {
    const MetricFamily& f = kFamilies[family];
    if (!started_[family]) {
      started_[family] = true;
      out_ += std::string("# HELP ") + f.name + " " + EscapeHelp(f.help) + "\n";
      out_ += std::string("# TYPE ") + f.name + " " + TypeName(f.type) + "\n";
    }
    std::string all = common_;
    for (const Label& l : labels) {
      all += std::string(l.name) + "=\"" + EscapeLabelValue(l.value) + "\",";
    }
    if (!all.empty()) all.pop_back();
    out_ += std::string(f.name) + std::string(suffix) + "{" + all + "} " + value + "\n";
  }

  std::string Take() { return std::move(out_); }

 private:
  std::string common_;  // `name="value",` for every series
  bool started_[kFamilyCount] = {};
  std::string out_;
};

void AddReplicationLag(const ClusterView& view, Exposition& e) {
  if (!view.leader) return;
  const MemberStatus* leader = view.FindMember(view.leader->holder);
  if (leader == nullptr) return;
  for (const MemberStatus& m : view.members) {
    if (m.name == leader->name || m.role != "replica") continue;
    e.Add(kReplicationLag, {{"replica", m.name}},
          Number(LsnDistance(leader->wal_position, m.wal_position)));
  }
}

void AddLeaseRenewDuration(const AgentCounters& c, Exposition& e) {
  const LatencyHistogram& h = c.lease_renew_latency;
  for (size_t i = 0; i < kLeaseRenewBucketBounds.size(); ++i) {
    e.Add(kLeaseRenewDuration, {{"le", Number(kLeaseRenewBucketBounds[i])}}, Number(h.at_most[i]),
          "_bucket");
  }
  e.Add(kLeaseRenewDuration, {{"le", "+Inf"}}, Number(h.count), "_bucket");
  e.Add(kLeaseRenewDuration, {}, Number(h.sum_seconds), "_sum");
  e.Add(kLeaseRenewDuration, {}, Number(h.count), "_count");
}

}  // namespace

std::span<const MetricFamily> MetricFamilies() { return kFamilies; }

std::string RenderMetrics(const AgentSnapshot& s, MonoTime now) {
  const MemberStatus& m = s.member;
  const AgentCounters& c = s.counters;
  Exposition e({{"cluster", s.cluster_name}, {"member", m.name}});

  bool known_role = false;
  for (std::string_view role : kRoles) {
    known_role |= role == m.role;
    e.Add(kRole, {{"role", role}}, Flag(role == m.role));
  }
  if (!known_role) e.Add(kRole, {{"role", m.role}}, "1");
  for (NodeState state : kAllNodeStates) {
    e.Add(kState, {{"state", NodeStateName(state)}}, Flag(m.state == NodeStateName(state)));
  }
  // PublishedRole: "primary" or "replica" exactly when PostgreSQL runs and answers queries.
  e.Add(kPostgresUp, {}, Flag(m.role == "primary" || m.role == "replica"));
  e.Add(kLeader, {}, Flag(s.holds_lease));
  e.Add(kStoreReachable, {}, Flag(s.store_reachable));
  e.Add(kTimeline, {}, Number(uint64_t{m.timeline}));
  if (m.role == "primary") {
    e.Add(kWalWritePosition, {}, Number(m.wal_position.value));
  } else if (m.role == "replica") {
    e.Add(kWalReceivePosition, {}, Number(m.wal_position.value));
    e.Add(kWalReplayPosition, {}, Number(m.replayed.value));
  }
  if (s.cluster) {
    AddReplicationLag(*s.cluster, e);
    e.Add(kClusterTimelineSwitches, {}, Number(uint64_t{s.cluster->history.size()}));
  }
  e.Add(kLeaseTtl, {}, Seconds(s.ttl));
  AddLeaseRenewDuration(c, e);
  if (c.last_lease_renew_latency) {
    e.Add(kLeaseRenewLastDuration, {}, Seconds(*c.last_lease_renew_latency));
  }
  e.Add(kLeaseRenewFailures, {}, Number(c.lease_renew_failures));
  e.Add(kLoops, {}, Number(c.loops));
  std::chrono::nanoseconds since_last_loop = now.since_epoch - s.last_loop.since_epoch;
  e.Add(kLastLoopAge, {}, Seconds(std::max(since_last_loop, std::chrono::nanoseconds(0))));
  e.Add(kDecisionsFailed, {}, Number(c.decisions_failed));
  e.Add(kPromotions, {{"cause", "failover"}}, Number(c.failover_promotions));
  e.Add(kPromotions, {{"cause", "switchover"}}, Number(c.switchover_promotions));
  return e.Take();
}

}  // namespace pgpilot
