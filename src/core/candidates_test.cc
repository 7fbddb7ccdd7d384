#include "core/candidates.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

namespace pgpilot {
namespace {

using ::testing::HasSubstr;

constexpr uint64_t kMiB = 1024 * 1024;
constexpr uint64_t kMaxLag = kMiB;  // maximum_lag_on_failover in these tests

// A healthy, reachable replica.
Candidate Replica(std::string name, Timeline timeline, uint64_t lsn) {
  return {.name = std::move(name), .reachable = true, .running_replica = true, .timeline = timeline,
          .wal_position = Lsn{lsn}};
}

// The last leader's record: crashed (lease expired) unless released.
LeaderRecord LastLeader(Timeline timeline, uint64_t lsn, bool released = false) {
  LeaderRecord r;
  r.holder = "pg-0";
  r.term = 3;
  r.ttl = Duration(10000);
  r.lsn = Lsn{lsn};
  r.timeline = timeline;
  r.released = released;
  r.revision = 17;
  return r;
}

std::vector<std::string> Names(const std::vector<Candidate>& cs) {
  std::vector<std::string> out;
  for (const auto& c : cs) out.push_back(c.name);
  return out;
}

std::vector<std::string> Names(const std::vector<Excluded>& es) {
  std::vector<std::string> out;
  for (const auto& e : es) out.push_back(e.name);
  return out;
}

// ---- ordering -------------------------------------------------------------------------------

TEST(RanksBefore, HigherTimelineWinsOverMoreWal) {
  // WAL positions on different timelines are not comparable progress: the newer timeline wins.
  EXPECT_TRUE(RanksBefore(Replica("pg-2", 3, 0x1000), Replica("pg-1", 2, 0x9000000)));
  EXPECT_FALSE(RanksBefore(Replica("pg-1", 2, 0x9000000), Replica("pg-2", 3, 0x1000)));
}

TEST(RanksBefore, OnOneTimelineMoreWalWins) {
  EXPECT_TRUE(RanksBefore(Replica("pg-2", 2, 0x3000149), Replica("pg-1", 2, 0x3000148)));
  EXPECT_FALSE(RanksBefore(Replica("pg-1", 2, 0x3000148), Replica("pg-2", 2, 0x3000149)));
}

TEST(RanksBefore, TiesGoToTheSmallerName) {
  EXPECT_TRUE(RanksBefore(Replica("pg-1", 2, 0x3000148), Replica("pg-2", 2, 0x3000148)));
  EXPECT_FALSE(RanksBefore(Replica("pg-2", 2, 0x3000148), Replica("pg-1", 2, 0x3000148)));
}

TEST(RanksBefore, IsAStrictOrder) {
  Candidate a = Replica("pg-1", 2, 0x3000148);
  EXPECT_FALSE(RanksBefore(a, a));
  // Every member, deciding on its own, must find the same winner: the order is total and
  // independent of the input order.
  std::vector<Candidate> all;
  for (Timeline tl : {1u, 2u}) {
    for (uint64_t lsn : {0x100ull, 0x200ull}) {
      for (const char* name : {"a", "b", "c"}) all.push_back(Replica(name, tl, lsn));
    }
  }
  std::mt19937 rng(7);
  std::vector<std::string> first;
  for (int round = 0; round < 20; ++round) {
    std::shuffle(all.begin(), all.end(), rng);
    Ranking r = RankCandidates(all, std::nullopt, kMaxLag);
    ASSERT_EQ(r.eligible.size(), all.size());
    if (round == 0) first = Names(r.eligible);
    EXPECT_EQ(Names(r.eligible), first);
    for (size_t i = 0; i + 1 < r.eligible.size(); ++i) {
      EXPECT_TRUE(RanksBefore(r.eligible[i], r.eligible[i + 1]));
      EXPECT_FALSE(RanksBefore(r.eligible[i + 1], r.eligible[i]));
    }
  }
  EXPECT_EQ(first.front(), "a");   // timeline 2, 0x200, smallest name
  EXPECT_EQ(first.back(), "c");    // timeline 1, 0x100, largest name
}

TEST(RankCandidates, BestFirstByTimelineThenWalThenName) {
  std::vector<Candidate> all = {
      Replica("pg-4", 1, 0x9000000),  // most WAL, old timeline
      Replica("pg-3", 2, 0x3000000),
      Replica("pg-2", 2, 0x3000100),
      Replica("pg-1", 2, 0x3000100),
  };
  Ranking r = RankCandidates(all, std::nullopt, kMaxLag);
  EXPECT_EQ(Names(r.eligible), (std::vector<std::string>{"pg-1", "pg-2", "pg-3", "pg-4"}));
  EXPECT_TRUE(r.excluded.empty());
}

// ---- eligibility ----------------------------------------------------------------------------

TEST(Ineligibility, HealthyReplicaWithinLagIsEligible) {
  EXPECT_EQ(Ineligibility(Replica("pg-1", 2, 0x5000000), LastLeader(2, 0x5000000), kMaxLag),
            std::nullopt);
}

TEST(Ineligibility, UnreachableSaysWhy) {
  Candidate c = Replica("pg-1", 2, 0x5000000);
  c.reachable = false;
  c.error = "connection refused";
  auto why = Ineligibility(c, LastLeader(2, 0x5000000), kMaxLag);
  ASSERT_TRUE(why.has_value());
  EXPECT_THAT(*why, HasSubstr("unreachable"));
  EXPECT_THAT(*why, HasSubstr("connection refused"));
}

TEST(Ineligibility, NotARunningReplica) {
  Candidate c = Replica("pg-1", 2, 0x5000000);
  c.running_replica = false;
  auto why = Ineligibility(c, LastLeader(2, 0x5000000), kMaxLag);
  ASSERT_TRUE(why.has_value());
  EXPECT_THAT(*why, HasSubstr("not a running replica"));
}

TEST(Ineligibility, NofailoverNeverEligibleEvenWhenBest) {
  Candidate c = Replica("pg-1", 9, 0xFFFFFFFF);
  c.nofailover = true;
  for (const std::optional<LeaderRecord>& last :
       {std::optional<LeaderRecord>(), std::optional<LeaderRecord>(LastLeader(2, 0x100)),
        std::optional<LeaderRecord>(LastLeader(2, 0x100, /*released=*/true))}) {
    auto why = Ineligibility(c, last, kMaxLag);
    ASSERT_TRUE(why.has_value());
    EXPECT_THAT(*why, HasSubstr("nofailover"));
  }
}

TEST(Ineligibility, OlderTimelineThanTheLastLeaderIsIneligible) {
  // Even with the same WAL position: it has not followed the last timeline switch.
  auto why = Ineligibility(Replica("pg-1", 1, 0x5000000), LastLeader(2, 0x5000000), kMaxLag);
  ASSERT_TRUE(why.has_value());
  EXPECT_THAT(*why, HasSubstr("timeline 1"));
}

TEST(Ineligibility, LagIsMeasuredAgainstTheLastLeadersPositionAfterACrash) {
  const uint64_t leader_lsn = 0x50000000;
  EXPECT_EQ(AllowedLag(LastLeader(2, leader_lsn), kMaxLag), kMaxLag);
  // Exactly at the limit: still eligible. One byte more: not.
  EXPECT_EQ(Ineligibility(Replica("pg-1", 2, leader_lsn - kMaxLag), LastLeader(2, leader_lsn), kMaxLag),
            std::nullopt);
  auto why =
      Ineligibility(Replica("pg-1", 2, leader_lsn - kMaxLag - 1), LastLeader(2, leader_lsn), kMaxLag);
  ASSERT_TRUE(why.has_value());
  EXPECT_THAT(*why, HasSubstr(std::to_string(kMaxLag + 1) + " bytes behind"));
  EXPECT_THAT(*why, HasSubstr("maximum_lag_on_failover"));
  // A bigger configured limit admits it.
  EXPECT_EQ(Ineligibility(Replica("pg-1", 2, leader_lsn - kMaxLag - 1), LastLeader(2, leader_lsn),
                          2 * kMaxLag),
            std::nullopt);
}

TEST(Ineligibility, AheadOfTheLastPublishedPositionIsNotLag) {
  // The leader publishes its position at each renewal; a replica may have received more since.
  EXPECT_EQ(Ineligibility(Replica("pg-1", 2, 0x60000000), LastLeader(2, 0x50000000), 0),
            std::nullopt);
}

TEST(Ineligibility, AfterACleanReleaseOnlyAMemberWithAllTheWalMayTakeOver) {
  const uint64_t final_lsn = 0x50000000;
  LeaderRecord released = LastLeader(2, final_lsn, /*released=*/true);
  EXPECT_EQ(AllowedLag(released, kMaxLag), 0u);
  EXPECT_EQ(Ineligibility(Replica("pg-1", 2, final_lsn), released, kMaxLag), std::nullopt);
  EXPECT_EQ(Ineligibility(Replica("pg-1", 2, final_lsn + 0x100), released, kMaxLag), std::nullopt);
  auto why = Ineligibility(Replica("pg-1", 2, final_lsn - 1), released, kMaxLag);
  ASSERT_TRUE(why.has_value()) << "one byte short of the released position must not be promoted";
  EXPECT_THAT(*why, HasSubstr("released the lease cleanly"));
  EXPECT_THAT(*why, HasSubstr("pg-0"));
}

TEST(Ineligibility, WithoutAnyLeaderRecordOnlyHealthMatters) {
  EXPECT_EQ(AllowedLag(std::nullopt, kMaxLag), kMaxLag);
  EXPECT_EQ(Ineligibility(Replica("pg-1", 1, 0), std::nullopt, kMaxLag), std::nullopt);
}

TEST(RankCandidates, SeparatesEligibleFromExcludedWithReasons) {
  const uint64_t leader_lsn = 0x50000000;
  Candidate down = Replica("pg-1", 2, leader_lsn);
  down.reachable = false;
  down.error = "timeout";
  Candidate tagged = Replica("pg-2", 2, leader_lsn + 10);  // would be best
  tagged.nofailover = true;
  Candidate lagging = Replica("pg-3", 2, leader_lsn - 2 * kMiB);
  Candidate good_a = Replica("pg-4", 2, leader_lsn - 100);
  Candidate good_b = Replica("pg-5", 2, leader_lsn);
  Ranking r = RankCandidates({down, tagged, lagging, good_a, good_b}, LastLeader(2, leader_lsn), kMaxLag);
  EXPECT_EQ(Names(r.eligible), (std::vector<std::string>{"pg-5", "pg-4"}));
  EXPECT_EQ(Names(r.excluded), (std::vector<std::string>{"pg-1", "pg-2", "pg-3"}));
  std::string text = r.Describe();
  EXPECT_THAT(text, HasSubstr("pg-5"));
  EXPECT_THAT(text, HasSubstr("excluded"));
  EXPECT_THAT(text, HasSubstr("pg-1 (unreachable: timeout)"));
  EXPECT_THAT(text, HasSubstr("pg-2 (tagged nofailover)"));
  EXPECT_THAT(text, HasSubstr("pg-3 ("));
  EXPECT_LT(text.find("pg-5"), text.find("pg-4")) << "best first: " << text;
}

TEST(RankCandidates, NobodyEligibleIsSaidPlainly) {
  Candidate c = Replica("pg-1", 1, 0);
  c.reachable = false;
  Ranking r = RankCandidates({c}, std::nullopt, kMaxLag);
  EXPECT_TRUE(r.eligible.empty());
  EXPECT_THAT(r.Describe(), HasSubstr("no eligible member"));
}

TEST(RankingDescribe, ShowsTimelineAndPositionOfEachCandidate) {
  Ranking r = RankCandidates({Replica("pg-1", 2, 0x3000148), Replica("pg-2", 2, 0x3000060)},
                             std::nullopt, kMaxLag);
  EXPECT_EQ(r.Describe(), "pg-1(tl 2, 0/3000148) > pg-2(tl 2, 0/3000060)");
}


// ---- the recorded history: unique timelines, lineage, divergence -------------------------------

namespace history {

HistoryEntry Entry(Timeline timeline, Timeline parent, uint64_t switch_lsn) {
  HistoryEntry h;
  h.timeline = timeline;
  h.parent = parent;
  h.switch_lsn = Lsn{switch_lsn};
  return h;
}

TEST(ForkBetween, WalksParentsAndSkipsTimelinesOfOtherBranches) {
  // 1 -> 2 at 0x100 (that branch lost), 1 -> 3 at 0x80, 3 -> 4 at 0x200.
  std::vector<HistoryEntry> h = {Entry(2, 1, 0x100), Entry(3, 1, 0x80), Entry(4, 3, 0x200)};
  Fork from_one = ForkBetween(h, 4, 1);
  EXPECT_EQ(from_one.kind, Fork::kAt);
  EXPECT_EQ(from_one.lsn, Lsn{0x80}) << "timeline 4 left timeline 1 where 3 branched, not where 2 did";
  EXPECT_EQ(ForkBetween(h, 4, 3).kind, Fork::kAt);
  EXPECT_EQ(ForkBetween(h, 4, 3).lsn, Lsn{0x200});
  EXPECT_EQ(ForkBetween({Entry(3, 5, 0x100)}, 3, 1).kind, Fork::kUnknown) << "a parent above its child";
  EXPECT_EQ(ForkBetween(h, 4, 2).kind, Fork::kNotAncestor);
  EXPECT_EQ(ForkBetween({Entry(4, 3, 0x200)}, 4, 1).kind, Fork::kUnknown) << "entry for 3 missing";
  // Entries written before parents were recorded read as "branched from the timeline below".
  EXPECT_EQ(ForkBetween({Entry(2, 0, 0x100)}, 2, 1).lsn, Lsn{0x100});
  EXPECT_EQ(NewestTimeline(h), 4u);
}

TEST(Divergence, ReplicasPastTheLineageAreRankedOnlyWhenNobodyElseCan) {
  std::vector<HistoryEntry> h = {Entry(2, 1, 0x100), Entry(3, 1, 0x80)};
  Candidate on_history = Replica("pg-1", 1, 0x80);    // stopped exactly where 3 branched
  Candidate diverged = Replica("pg-2", 2, 0x180);     // on the lost branch, ahead by LSN
  EXPECT_FALSE(Divergence(on_history, h).has_value());
  ASSERT_TRUE(Divergence(diverged, h).has_value());
  EXPECT_THAT(*Divergence(diverged, h), HasSubstr("not on the lineage of the newest timeline 3"));
  Ranking both = RankCandidates({diverged, on_history}, std::nullopt, kMaxLag, h);
  EXPECT_EQ(Names(both.eligible), (std::vector<std::string>{"pg-1"}));
  EXPECT_EQ(Names(both.excluded), (std::vector<std::string>{"pg-2"}));
  // When nobody on the recorded history is left, a diverged member may still take over.
  Ranking alone = RankCandidates({diverged}, std::nullopt, kMaxLag, h);
  EXPECT_EQ(Names(alone.eligible), (std::vector<std::string>{"pg-2"}));
}

}  // namespace history

}  // namespace
}  // namespace pgpilot
