// The agent's counters: the renewal latency histogram is cumulative, and a promotion is a
// switchover only when a request made to a leader names this member.
#include "agent/agent_counters.h"

#include <gtest/gtest.h>

namespace pgpilot {
namespace {

using std::chrono::microseconds;
using std::chrono::milliseconds;

TEST(AgentCounters, RenewalLatenciesFillCumulativeBucketsAndFailuresAreCounted) {
  AgentCounters c;
  c.RecordLeaseRenewal(microseconds(800), true);    // <= 0.005
  c.RecordLeaseRenewal(milliseconds(10), true);     // exactly on the 0.01 bound: counted there
  c.RecordLeaseRenewal(milliseconds(700), false);   // <= 1
  c.RecordLeaseRenewal(milliseconds(60000), false);  // only in +Inf
  const LatencyHistogram& h = c.lease_renew_latency;
  const std::array<uint64_t, kLeaseRenewBucketBounds.size()> expected = {1, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3};
  EXPECT_EQ(h.at_most, expected);
  EXPECT_EQ(h.count, 4u);
  EXPECT_NEAR(h.sum_seconds, 0.0008 + 0.01 + 0.7 + 60, 1e-9);
  EXPECT_EQ(c.lease_renew_failures, 2u);
  ASSERT_TRUE(c.last_lease_renew_latency.has_value());
  EXPECT_EQ(*c.last_lease_renew_latency, milliseconds(60000));
}

TEST(AgentCounters, PromotionsAreCountedByCause) {
  AgentCounters c;
  c.RecordPromotion(PromotionCause::kFailover);
  c.RecordPromotion(PromotionCause::kSwitchover);
  c.RecordPromotion(PromotionCause::kFailover);
  EXPECT_EQ(c.failover_promotions, 2u);
  EXPECT_EQ(c.switchover_promotions, 1u);
}

TEST(AgentCounters, APromotionIsASwitchoverOnlyWhenTheLeadersRequestNamesUs) {
  ClusterView v;
  EXPECT_EQ(CauseOfPromotion(v, "pg-1"), PromotionCause::kFailover) << "no request: the lease expired";
  v.switchover = SwitchoverRecord{"pg-0", "pg-1"};
  EXPECT_EQ(CauseOfPromotion(v, "pg-1"), PromotionCause::kSwitchover);
  EXPECT_EQ(CauseOfPromotion(v, "pg-2"), PromotionCause::kFailover) << "the request names another";
  v.switchover = SwitchoverRecord{"", "pg-1"};
  EXPECT_EQ(CauseOfPromotion(v, "pg-1"), PromotionCause::kFailover) << "an operator's failover";
}

}  // namespace
}  // namespace pgpilot
