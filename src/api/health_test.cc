#include "api/health.h"

#include <gtest/gtest.h>

namespace pgpilot {
namespace {

const MonoTime kNow = MonoTime{} + Duration(3'600'000);

AgentSnapshot Snapshot(const std::string& role, bool holds_lease) {
  AgentSnapshot s;
  s.member.name = "pg-1";
  s.member.role = role;
  s.member.wal_position = Lsn{0x5000000};
  s.holds_lease = holds_lease;
  s.last_loop = kNow;
  s.ttl = Duration(10000);
  ClusterView v;
  v.leader = LeaderRecord{"pg-0", 2, Duration(10000), Lsn{0x5001000}, 1, false, 3};
  MemberStatus leader;
  leader.name = "pg-0";
  leader.wal_position = Lsn{0x5001000};
  v.members = {leader, s.member};
  s.cluster = v;
  return s;
}

TEST(Health, RolesLagAndTheNoloadbalanceTag) {
  AgentSnapshot replica = Snapshot("replica", false);
  EXPECT_EQ(HealthStatus("/replica", replica, {}, kNow), 200);
  EXPECT_EQ(HealthStatus("/primary", replica, {}, kNow), 503);
  EXPECT_EQ(HealthStatus("/replica", replica, {.max_lag_bytes = 0x1000}, kNow), 200);
  EXPECT_EQ(HealthStatus("/replica", replica, {.max_lag_bytes = 0xFFF}, kNow), 503);
  replica.member.tags.noloadbalance = true;
  EXPECT_EQ(HealthStatus("/replica", replica, {}, kNow), 503) << "load balancers leave it out";
  EXPECT_EQ(HealthStatus("/read-only", replica, {}, kNow), 200) << "it still serves reads when asked";
  EXPECT_EQ(HealthStatus("/readiness", replica, {}, kNow), 200);

  AgentSnapshot primary = Snapshot("primary", true);
  EXPECT_EQ(HealthStatus("/primary", primary, {}, kNow), 200);
  EXPECT_EQ(HealthStatus("/replica", primary, {}, kNow), 503);
  EXPECT_EQ(HealthStatus("/nope", primary, {}, kNow), std::nullopt);
  EXPECT_EQ(HealthStatus("/liveness", primary, {}, kNow + Duration(10000)), 200);
  EXPECT_EQ(HealthStatus("/liveness", primary, {}, kNow + Duration(10001)), 503);
}

}  // namespace
}  // namespace pgpilot
