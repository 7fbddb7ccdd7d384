#include "core/switchover.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace pgpilot {
namespace {

using ::testing::HasSubstr;

MemberStatus Replica(const std::string& name, uint64_t lsn, const std::string& upstream = "pg-0") {
  MemberStatus m;
  m.name = name;
  m.role = "replica";
  m.streaming = !upstream.empty();
  m.upstream = upstream;
  m.wal_position = Lsn{lsn};
  return m;
}

// pg-0 leads at 0/5000000; pg-1 and pg-2 stream from it.
ClusterView Cluster() {
  ClusterView v;
  v.leader = LeaderRecord{"pg-0", 3, Duration(10000), Lsn{0x5000000}, 1, false, 7};
  MemberStatus primary;
  primary.name = "pg-0";
  primary.role = "primary";
  primary.wal_position = Lsn{0x5000000};
  v.members = {primary, Replica("pg-1", 0x4FFF000), Replica("pg-2", 0x5000000)};
  return v;
}

TEST(ChooseSwitchoverTarget, PicksTheMostAdvancedEligibleReplica) {
  auto to = ChooseSwitchoverTarget(Cluster(), "", 1024 * 1024, false);
  ASSERT_TRUE(to.ok()) << to.error().ToString();
  EXPECT_EQ(*to, "pg-2");
  auto named = ChooseSwitchoverTarget(Cluster(), "pg-1", 1024 * 1024, false);
  ASSERT_TRUE(named.ok());
  EXPECT_EQ(*named, "pg-1");
}

TEST(ChooseSwitchoverTarget, RefusesWithTheReason) {
  struct Case {
    std::string name;
    std::function<void(ClusterView&)> change;
    std::string to;
    std::vector<std::string> words;
  };
  const std::vector<Case> cases = {
      {"unknown member", [](ClusterView&) {}, "pg-9", {"no member named pg-9"}},
      {"the leader itself", [](ClusterView&) {}, "pg-0", {"leader already"}},
      {"nofailover", [](ClusterView& v) { v.members[1].tags.nofailover = true; }, "pg-1", {"nofailover"}},
      {"not streaming", [](ClusterView& v) { v.members[1].streaming = false; }, "pg-1", {"not a replica streaming"}},
      {"cascading", [](ClusterView& v) { v.members[1].upstream = "pg-2"; }, "pg-1", {"streaming from pg-2"}},
      {"lagging", [](ClusterView& v) { v.members[1].wal_position = Lsn{0x1000000}; }, "pg-1",
       {"bytes behind pg-0", "--force"}},
      {"outside the sync set", [](ClusterView& v) { v.sync = SyncRecord{"pg-0", {"pg-2"}, 4}; }, "pg-1",
       {"synchronous set of pg-0 is [pg-2]"}},
      {"no leader", [](ClusterView& v) { v.leader.reset(); }, "pg-1", {"no leader", "failover"}},
      {"pending", [](ClusterView& v) { v.switchover = SwitchoverRecord{"pg-0", "pg-2", {}, {}}; }, "pg-1",
       {"already pending"}},
      {"nobody eligible", [](ClusterView& v) { for (auto& m : v.members) m.tags.nofailover = true; }, "",
       {"no member can take over", "pg-1: it is tagged nofailover"}},
  };
  for (const Case& c : cases) {
    ClusterView v = Cluster();
    c.change(v);
    auto to = ChooseSwitchoverTarget(v, c.to, 1024 * 1024, false);
    ASSERT_FALSE(to.ok()) << c.name;
    for (const auto& w : c.words) EXPECT_THAT(to.error().message + to.error().hint, HasSubstr(w)) << c.name;
  }
  ClusterView lagging = Cluster();
  lagging.members[1].wal_position = Lsn{0x1000000};
  EXPECT_TRUE(ChooseSwitchoverTarget(lagging, "pg-1", 1024 * 1024, /*force=*/true).ok());
}

TEST(WhySwitchoverRefused, ThePrimaryChecksItsOwnStandbys) {
  ClusterView v = Cluster();
  LocalState primary;
  primary.standbys = {{"pg-1", true, Lsn{0x5000000}}};
  SwitchoverRecord to1{"pg-0", "pg-1", {}, {}};
  EXPECT_EQ(WhySwitchoverRefused(to1, v, primary, SyncMode::kOff), std::nullopt);
  SwitchoverRecord to2{"pg-0", "pg-2", {}, {}};
  EXPECT_THAT(WhySwitchoverRefused(to2, v, primary, SyncMode::kOff).value_or(""), HasSubstr("not streaming"));
  v.sync = SyncRecord{"pg-0", {"pg-2"}, 4};
  EXPECT_THAT(WhySwitchoverRefused(to1, v, primary, SyncMode::kOn).value_or(""), HasSubstr("synchronous set"));
  EXPECT_EQ(WhySwitchoverRefused(to1, v, primary, SyncMode::kOff), std::nullopt);
}

TEST(HandoverInProgress, OnlyALeaseReleasedByTheRequestsLeader) {
  ClusterView v = Cluster();
  v.switchover = SwitchoverRecord{"pg-0", "pg-1", {}, {}};
  EXPECT_EQ(HandoverInProgress(v), nullptr) << "pg-0 still holds the lease";
  v.leader->released = true;
  ASSERT_NE(HandoverInProgress(v), nullptr);
  EXPECT_EQ(HandoverInProgress(v)->to, "pg-1");
  v.leader->holder = "pg-2";
  EXPECT_EQ(HandoverInProgress(v), nullptr) << "released by someone the request was not made to";
}

TEST(ParseWallTime, ReadsUtcTimesOnly) {
  EXPECT_EQ(ParseWallTime("1970-01-01T00:00:01Z"), WallTime{1000});
  EXPECT_EQ(ParseWallTime("2026-12-02T10:00:00.5Z"), WallTime{1796205600500});
  auto t = ParseWallTime("2026-11-22T21:42:46.123Z");
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(FormatWallTime(*t), "2026-11-22T21:42:46.123Z");
  for (const char* bad : {"", "2026-12-02", "2026-12-02T10:00:00", "2026-12-02T10:00:00+01:00",
                          "2026-13-02T10:00:00Z", "tomorrow"}) {
    EXPECT_EQ(ParseWallTime(bad), std::nullopt) << bad;
  }
}

}  // namespace
}  // namespace pgpilot

namespace pgpilot {
namespace {

TEST(CheckFailoverTarget, OnlyWithoutAHealthyPrimaryAndInsideTheSyncSetUnlessForced) {
  ClusterView v = Cluster();
  Status healthy = CheckFailoverTarget(v, "pg-1", false);
  ASSERT_FALSE(healthy.ok());
  EXPECT_THAT(healthy.error().hint, HasSubstr("switchover"));
  v.members[0].role = "stopped";  // the primary's PostgreSQL is down
  EXPECT_TRUE(CheckFailoverTarget(v, "pg-1", false).ok());
  EXPECT_FALSE(CheckFailoverTarget(v, "pg-9", false).ok());
  v.sync = SyncRecord{"pg-0", {"pg-2"}, 4};
  Status outside = CheckFailoverTarget(v, "pg-1", false);
  ASSERT_FALSE(outside.ok());
  EXPECT_THAT(outside.error().message, HasSubstr("synchronous set"));
  EXPECT_TRUE(CheckFailoverTarget(v, "pg-1", true).ok());
  v.members[1].tags.nofailover = true;
  EXPECT_FALSE(CheckFailoverTarget(v, "pg-1", true).ok());
}

}  // namespace
}  // namespace pgpilot
