// The simulator: the real decision survives generated fault schedules, every planted unsafe variant
// is caught with a seed that replays it, and a schedule replays exactly from its seed.
#include <gtest/gtest.h>

#include "sim/sim_postgres.h"
#include "sim/sim_runner.h"
#include "sim/sim_store.h"

namespace pgpilot::sim {
namespace {

TEST(WalTree, ContainsFollowsTheLineageUpToEachFork) {
  WalTree wal;
  int root = wal.NewRoot();
  int child = wal.Fork(root, 100, 0);
  int grandchild = wal.Fork(child, 150, 5);
  EXPECT_EQ(wal.TimelineOf(child), 2u);
  EXPECT_EQ(wal.TimelineOf(grandchild), 5u);
  EXPECT_TRUE(wal.Contains(grandchild, 200, root, 100));   // before the first fork
  EXPECT_FALSE(wal.Contains(grandchild, 200, root, 101));  // the parent's WAL after the fork
  EXPECT_TRUE(wal.Contains(grandchild, 200, child, 150));
  EXPECT_FALSE(wal.Contains(grandchild, 120, child, 130)); // not replayed that far yet
  EXPECT_FALSE(wal.Contains(root, 500, child, 120));       // a parent never holds its child's WAL
}

TEST(SimStore, LeaseCompareAndSwapAndServerSideExpiry) {
  int64_t now = 0;
  SimStore store([&] { return now; }, /*server_side_expiry=*/true);
  LeaseRequest a{"pg-0", Duration(4000), Lsn{1}, 1};
  LeaseRequest b{"pg-1", Duration(4000), Lsn{1}, 1};
  auto first = store.AcquireLeader(a, std::nullopt);
  ASSERT_TRUE(first.ok() && first->granted);
  auto second = store.AcquireLeader(b, std::nullopt);
  ASSERT_TRUE(second.ok());
  EXPECT_FALSE(second->granted);
  EXPECT_FALSE(store.RenewLeader(b, first->record->term)->granted);
  now = 3999;
  EXPECT_TRUE(store.Leader().has_value());
  now = 4000;
  EXPECT_FALSE(store.Leader().has_value()) << "the store expires the lease ttl after its last write";
  auto third = store.AcquireLeader(b, std::nullopt);
  ASSERT_TRUE(third.ok() && third->granted);
  EXPECT_EQ(third->record->term, first->record->term + 1) << "terms keep counting across an expiry";
}

TEST(Simulator, RealDecisionKeepsEveryInvariantWithThreeAndFiveNodes) {
  SimOptions three;
  RunSummary s3 = RunSchedules(11, 400, three, 2, false);
  EXPECT_EQ(s3.schedules, 400);
  EXPECT_EQ(s3.violations, 0) << (s3.failures.empty() ? "" : *s3.failures.front().violation);
  EXPECT_GT(s3.promotions, 0) << "the schedules must actually force failovers";
  EXPECT_GT(s3.faults, 400);
  SimOptions five;
  five.nodes = 5;
  RunSummary s5 = RunSchedules(12, 150, five, 2, false);
  EXPECT_EQ(s5.violations, 0) << (s5.failures.empty() ? "" : *s5.failures.front().violation);
}

TEST(Simulator, SynchronousModeLosesNoAcknowledgedWriteAcrossFailovers) {
  for (SyncMode mode : {SyncMode::kOn, SyncMode::kStrict}) {
    SimOptions options;
    options.sync_mode = mode;
    RunSummary s = RunSchedules(13, 400, options, 2, false);
    EXPECT_EQ(s.violations, 0) << SyncModeName(mode) << ": "
                               << (s.failures.empty() ? "" : *s.failures.front().violation);
    EXPECT_GT(s.promotions, 0) << "failovers happen in synchronous mode too";
    EXPECT_GT(s.writes, 0) << "commits are acknowledged once the synchronous standby has them";
  }
}

TEST(Simulator, AFrozenMachineAcknowledgesAfterAPromotionUnlessTheCommitFenceHoldsItsCommits) {
  SimOptions frozen;
  frozen.machine_freeze = true;
  RunSummary without = RunSchedules(15, 600, frozen, 2, false);
  EXPECT_GT(without.violations, 0) << "whole-machine freezes must produce the split brain the fence is for";
  frozen.commit_fence = true;
  RunSummary with = RunSchedules(15, 600, frozen, 2, false);
  EXPECT_EQ(with.violations, 0) << (with.failures.empty() ? "" : *with.failures.front().violation);
  EXPECT_GT(with.writes, 0) << "commits are acknowledged through the fence";
}

TEST(Simulator, ASeedReplaysTheSameScheduleEventForEvent) {
  SimOptions traced;
  traced.trace = true;
  uint64_t seed = ScheduleSeed(5, 3);
  ScheduleResult a = RunSchedule(seed, traced);
  ScheduleResult b = RunSchedule(seed, traced);
  ASSERT_GT(a.timeline.size(), 20u);
  EXPECT_EQ(a.timeline, b.timeline);
  EXPECT_EQ(a.simulated_ms, b.simulated_ms);
  EXPECT_EQ(a.writes_acknowledged, b.writes_acknowledged);
  bool has_decisions = false, has_faults = false;
  for (const auto& line : a.timeline) {
    has_decisions |= line.find(" decision ") != std::string::npos;
    has_faults |= line.find("FAULT ") != std::string::npos;
  }
  EXPECT_TRUE(has_decisions && has_faults) << "the timeline shows decisions and faults";
}

struct Planted {
  Variant variant;
  const char* expected;  // what the violation must say
};

class UnsafeVariant : public testing::TestWithParam<Planted> {};

TEST_P(UnsafeVariant, IsCaughtAndItsSeedReplaysTheViolation) {
  SimOptions options;
  options.variant = GetParam().variant;
  RunSummary s = RunSchedules(21, 3000, options, 2, /*stop_at_first=*/true);
  ASSERT_GE(s.violations, 1) << VariantName(GetParam().variant) << " was not caught in "
                             << s.schedules << " schedules";
  const ScheduleResult& failure = s.failures.front();
  EXPECT_NE(failure.violation->find(GetParam().expected), std::string::npos) << *failure.violation;
  options.trace = true;
  ScheduleResult replay = RunSchedule(failure.seed, options);
  ASSERT_TRUE(replay.violation.has_value()) << "seed " << failure.seed << " does not replay";
  EXPECT_EQ(*replay.violation, *failure.violation);
  bool shown = false;
  for (const auto& line : replay.timeline) shown |= line.find("VIOLATION") != std::string::npos;
  EXPECT_TRUE(shown) << "the replayed timeline shows the violation";
}

INSTANTIATE_TEST_SUITE_P(
    Planted, UnsafeVariant,
    testing::Values(Planted{Variant::kNoLeaseWait, "two members accept writes at once"},
                    Planted{Variant::kWriteWithoutLease, "two members accept writes at once"},
                    Planted{Variant::kInitdbInitialized, "ran initdb although the cluster is initialized"},
                    Planted{Variant::kUnreservedTimeline, "a second, different timeline numbered"},
                    Planted{Variant::kOutsideSyncSet, "an acknowledged write is lost"}),
    [](const testing::TestParamInfo<Planted>& info) {
      std::string name = VariantName(info.param.variant);
      for (char& c : name) {
        if (c == '-') c = '_';
      }
      return name;
    });

TEST(UnsafeVariants, ListedByNameAndNotReachableWithoutTheSimulator) {
  EXPECT_EQ(AllVariants().size(), 5u);
  for (const auto& v : AllVariants()) EXPECT_EQ(ParseVariant(v.name), v.variant);
  EXPECT_EQ(ParseVariant("none"), Variant::kNone);
  EXPECT_FALSE(ParseVariant("promote-anyway").has_value());
}

}  // namespace
}  // namespace pgpilot::sim
