#include "agent/agent_counters.h"

namespace pgpilot {

void LatencyHistogram::Observe(std::chrono::nanoseconds latency) {
  double seconds = std::chrono::duration<double>(latency).count();
  for (size_t i = 0; i < kLeaseRenewBucketBounds.size(); ++i) {
    if (seconds <= kLeaseRenewBucketBounds[i]) ++at_most[i];
  }
  ++count;
  sum_seconds += seconds;
}

PromotionCause CauseOfPromotion(const ClusterView& view, std::string_view member) {
  // The request stays in the store until the new primary clears it after promoting, so a
  // promotion retried in a later tick is still recognised.
  bool handover = view.switchover && !view.switchover->from.empty() && view.switchover->to == member;
  return handover ? PromotionCause::kSwitchover : PromotionCause::kFailover;
}

void AgentCounters::RecordLeaseRenewal(std::chrono::nanoseconds latency, bool granted) {
  lease_renew_latency.Observe(latency);
  last_lease_renew_latency = latency;
  if (!granted) ++lease_renew_failures;
}

void AgentCounters::RecordPromotion(PromotionCause cause) {
  if (cause == PromotionCause::kSwitchover) ++switchover_promotions;
  else ++failover_promotions;
}

}  // namespace pgpilot
