// What this agent has done since its process started, for /metrics: counts only ever grow.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string_view>

#include "core/cluster_view.h"

namespace pgpilot {

// Upper bounds, in seconds, of the lease renewal latency buckets; +Inf follows the last one.
inline constexpr std::array<double, 11> kLeaseRenewBucketBounds = {
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};

// A latency histogram as Prometheus reads it: cumulative counts per upper bound.
struct LatencyHistogram {
  std::array<uint64_t, kLeaseRenewBucketBounds.size()> at_most{};  // observations <= bound i
  uint64_t count = 0;                                              // every observation (+Inf)
  double sum_seconds = 0;

  void Observe(std::chrono::nanoseconds latency);
};

// Why this agent promoted its PostgreSQL.
enum class PromotionCause {
  kFailover,    // the lease expired or had no holder, or an operator's `ctl failover`
  kSwitchover,  // a planned handover (`ctl switchover`) named this member
};

// A promotion is a switchover when the store's switchover request, made to a leader, names
// `member` as the target; every other promotion is a failover.
PromotionCause CauseOfPromotion(const ClusterView& view, std::string_view member);

struct AgentCounters {
  uint64_t loops = 0;                 // HA loop ticks completed
  uint64_t decisions_failed = 0;      // ticks whose actions stopped at a failure or refusal
  uint64_t lease_renew_failures = 0;  // renewals the store refused or could not answer
  LatencyHistogram lease_renew_latency;  // every renewal, answered or not, from send to answer
  std::optional<std::chrono::nanoseconds> last_lease_renew_latency;
  uint64_t failover_promotions = 0;
  uint64_t switchover_promotions = 0;

  void RecordLeaseRenewal(std::chrono::nanoseconds latency, bool granted);
  void RecordPromotion(PromotionCause cause);
};

}  // namespace pgpilot
