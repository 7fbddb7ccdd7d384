#include "core/sync_standbys.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace pgpilot {
namespace {

using ::testing::HasSubstr;
using Names = std::vector<std::string>;

const MonoTime kT0 = MonoTime{} + Duration(3'600'000);

TEST(SynchronousStandbyNames, WritesAnExactSetAndReadsOnlyItsOwnForm) {
  EXPECT_EQ(SynchronousStandbyNames({}), "");
  EXPECT_EQ(SynchronousStandbyNames({"pg-1"}), "ANY 1 (\"pg-1\")");
  EXPECT_EQ(SynchronousStandbyNames({"pg-1", "pg-2"}), "ANY 2 (\"pg-1\", \"pg-2\")");
  for (const Names& names : {Names{}, Names{"pg-1"}, Names{"pg-1", "pg-2"}}) {
    EXPECT_EQ(ParseSynchronousStandbyNames(SynchronousStandbyNames(names)), names);
  }
  EXPECT_EQ(ParseSynchronousStandbyNames("  "), Names{});
  EXPECT_EQ(ParseSynchronousStandbyNames("any 2 (\"b\",\"a\")"), (Names{"a", "b"}));
  // Forms an operator may have written: pgpilot cannot tell what PostgreSQL waits for.
  for (const char* foreign : {"*", "pg-1", "FIRST 1 (\"pg-1\")", "ANY 1 (\"pg-1\", \"pg-2\")",
                              "ANY 1 (pg-1)", "ANY 1 (\"pg-1\"", "ANY x (\"a\")", "ANY 1 (\"a\") b"}) {
    EXPECT_EQ(ParseSynchronousStandbyNames(foreign), std::nullopt) << foreign;
  }
}

TEST(SyncMode, NamesRoundTrip) {
  for (SyncMode mode : {SyncMode::kOff, SyncMode::kOn, SyncMode::kStrict}) {
    EXPECT_EQ(ParseSyncMode(SyncModeName(mode)), mode);
  }
  EXPECT_EQ(ParseSyncMode("always"), std::nullopt);
}

TEST(OutsideSyncSet, OnlyTheLeaderAndTheMembersHaveEveryAcknowledgedCommit) {
  std::optional<SyncRecord> sync = SyncRecord{"pg-0", {"pg-1"}, 3};
  EXPECT_EQ(OutsideSyncSet(sync, "pg-0"), std::nullopt);
  EXPECT_EQ(OutsideSyncSet(sync, "pg-1"), std::nullopt);
  ASSERT_TRUE(OutsideSyncSet(sync, "pg-2").has_value());
  EXPECT_THAT(*OutsideSyncSet(sync, "pg-2"), HasSubstr("[pg-1]"));
  EXPECT_EQ(OutsideSyncSet(std::nullopt, "pg-2"), std::nullopt) << "no record: nothing is known";
}

// The primary pg-0 with standbys pg-1..pg-3 connected; the test adjusts what it needs.
class Primary {
 public:
  Primary() {
    for (const char* name : {"pg-0", "pg-1", "pg-2", "pg-3"}) {
      MemberStatus m;
      m.name = name;
      m.role = m.name == "pg-0" ? "primary" : "replica";
      view.members.push_back(m);
    }
    local.wal_position = Lsn{0x5000000};
    local.standbys = {{"pg-1", true, Lsn{0x4000000}}, {"pg-2", true, Lsn{0x4800000}},
                      {"pg-3", true, Lsn{0x3000000}}};
  }
  SyncPlan Plan(MonoTime now = kT0) {
    SyncPlan plan = PlanSyncStandbys(mode, count, "pg-0", view, local, join, now, commit_fence);
    join = plan.join;
    return plan;
  }
  // What the executor does: the record written, PostgreSQL's setting changed.
  void Apply(const SyncPlan& plan) {
    for (const Action& a : plan.actions) {
      if (auto* w = std::get_if<WriteSync>(&a)) {
        ASSERT_EQ(w->expect_absent, !view.sync.has_value());
        if (view.sync) ASSERT_EQ(w->expected_revision, view.sync->revision);
        view.sync = w->record;
        view.sync->revision = ++revision;
      } else if (auto* s = std::get_if<SetSyncStandbys>(&a)) {
        local.synchronous_standby_names = SynchronousStandbyNames(s->names, s->commit_fence);
      } else {
        FAIL() << DescribeAction(a);
      }
    }
  }
  StandbyProgress& Standby(const std::string& name) {
    for (auto& s : local.standbys) {
      if (s.name == name) return s;
    }
    throw std::runtime_error("no standby " + name);
  }
  // The invariant: PostgreSQL waits for every member of the record.
  void ExpectPostgresCoversTheRecord() {
    auto waiting = ParseSynchronousStandbyNames(local.synchronous_standby_names);
    ASSERT_TRUE(waiting.has_value());
    for (const std::string& m : view.sync ? view.sync->members : Names{}) {
      EXPECT_NE(std::find(waiting->begin(), waiting->end(), m), waiting->end())
          << m << " is in the record but PostgreSQL does not wait for it";
    }
  }

  SyncMode mode = SyncMode::kOn;
  int count = 1;
  bool commit_fence = false;
  ClusterView view;
  LocalState local;
  SyncJoin join;
  uint64_t revision = 10;
};

TEST(PlanSyncStandbys, TakesTheRecordOverBeforeAnythingElse) {
  Primary p;
  SyncPlan plan = p.Plan();
  ASSERT_EQ(plan.actions.size(), 1u);
  EXPECT_EQ(DescribeAction(plan.actions[0]), "write_sync(pg-0: [], absent)");

  p.view.sync = SyncRecord{"pg-1", {"pg-0", "pg-2"}, 7};  // the previous leader's
  plan = p.Plan();
  ASSERT_EQ(plan.actions.size(), 1u);
  EXPECT_EQ(DescribeAction(plan.actions[0]), "write_sync(pg-0: [], revision 7)");
}

TEST(PlanSyncStandbys, AStandbyJoinsThePostgresSettingFirstAndTheRecordOnceItCaughtUp) {
  Primary p;
  p.view.sync = SyncRecord{"pg-0", {}, 7};
  // The most advanced standby is chosen; PostgreSQL is asked to wait for it.
  SyncPlan plan = p.Plan();
  ASSERT_EQ(plan.actions.size(), 1u);
  EXPECT_EQ(DescribeAction(plan.actions[0]), "set_synchronous_standbys(pg-2)");
  p.Apply(plan);
  // The setting has to settle before the position that must be reached is taken.
  plan = p.Plan(kT0 + Duration(500));
  EXPECT_TRUE(plan.actions.empty());
  EXPECT_FALSE(p.join.in_effect);
  p.local.wal_position = Lsn{0x5100000};
  plan = p.Plan(kT0 + kSyncReloadSettle);
  EXPECT_TRUE(plan.actions.empty());
  EXPECT_TRUE(p.join.in_effect);
  EXPECT_EQ(p.join.needed, Lsn{0x5100000});
  EXPECT_THAT(plan.summary, HasSubstr("5100000"));
  // Not there yet.
  p.Standby("pg-2").flushed = Lsn{0x50FFFFF};
  plan = p.Plan(kT0 + Duration(3000));
  EXPECT_TRUE(plan.actions.empty());
  EXPECT_EQ(p.view.sync->members, Names{});
  // Caught up: now it enters the record.
  p.Standby("pg-2").flushed = Lsn{0x5100000};
  plan = p.Plan(kT0 + Duration(4000));
  ASSERT_EQ(plan.actions.size(), 1u);
  EXPECT_EQ(DescribeAction(plan.actions[0]), "write_sync(pg-0: [pg-2], revision 7)");
  p.Apply(plan);
  p.ExpectPostgresCoversTheRecord();
  // Steady: nothing to do.
  plan = p.Plan(kT0 + Duration(5000));
  EXPECT_TRUE(plan.actions.empty());
  EXPECT_THAT(plan.summary, HasSubstr("synchronous standbys: pg-2"));
}

TEST(PlanSyncStandbys, AStandbyLeavesTheRecordFirstAndThePostgresSettingAfter) {
  Primary p;
  p.view.sync = SyncRecord{"pg-0", {"pg-1"}, 7};
  p.local.synchronous_standby_names = SynchronousStandbyNames({"pg-1"});
  p.Standby("pg-1").streaming = false;
  SyncPlan plan = p.Plan();
  ASSERT_EQ(plan.actions.size(), 2u);
  EXPECT_EQ(DescribeAction(plan.actions[0]), "write_sync(pg-0: [], revision 7)");
  EXPECT_EQ(DescribeAction(plan.actions[1]), "set_synchronous_standbys()");
  EXPECT_THAT(plan.summary, HasSubstr("dropping pg-1"));

  // Strict: PostgreSQL keeps waiting, for a name nobody has.
  p.mode = SyncMode::kStrict;
  plan = p.Plan();
  ASSERT_EQ(plan.actions.size(), 2u);
  EXPECT_EQ(DescribeAction(plan.actions[1]),
            "set_synchronous_standbys(" + std::string(kNoStandbyName) + ")");
}

TEST(PlanSyncStandbys, NosyncMembersAndUnknownStandbysAreNeverChosen) {
  Primary p;
  p.view.sync = SyncRecord{"pg-0", {}, 7};
  p.view.members[2].tags.nosync = true;  // pg-2, the most advanced
  p.local.standbys.push_back({"pg_basebackup", true, Lsn{0x6000000}});  // not a member
  SyncPlan plan = p.Plan();
  ASSERT_EQ(plan.actions.size(), 1u);
  EXPECT_EQ(DescribeAction(plan.actions[0]), "set_synchronous_standbys(pg-1)");

  // A member of the record tagged nosync later is dropped.
  p.view.sync = SyncRecord{"pg-0", {"pg-2"}, 8};
  plan = p.Plan();
  ASSERT_FALSE(plan.actions.empty());
  EXPECT_EQ(DescribeAction(plan.actions[0]), "write_sync(pg-0: [], revision 8)");
}

TEST(PlanSyncStandbys, ReachesTheCountOneStandbyAtATimeAndNeverLetsPostgresWaitForLess) {
  Primary p;
  p.count = 2;
  p.view.sync = SyncRecord{"pg-0", {}, 7};
  MonoTime t = kT0;
  for (int tick = 0; tick < 20; ++tick, t = t + Duration(1000)) {
    // Standbys keep up with the primary.
    p.local.wal_position = Lsn{p.local.wal_position.value + 0x1000};
    for (auto& s : p.local.standbys) s.flushed = p.local.wal_position;
    SyncPlan plan = p.Plan(t);
    p.Apply(plan);
    p.ExpectPostgresCoversTheRecord();
  }
  ASSERT_TRUE(p.view.sync.has_value());
  EXPECT_EQ(p.view.sync->members, (Names{"pg-1", "pg-2"}));
  EXPECT_EQ(p.local.synchronous_standby_names, SynchronousStandbyNames({"pg-1", "pg-2"}));

  // The count goes down: the extra member leaves.
  p.count = 1;
  SyncPlan plan = p.Plan(t);
  p.Apply(plan);
  EXPECT_EQ(p.view.sync->members, Names{"pg-1"});
  p.ExpectPostgresCoversTheRecord();
}

TEST(PlanSyncStandbys, AMemberPostgresDoesNotWaitForLeavesTheRecordFirst) {
  Primary p;
  p.view.sync = SyncRecord{"pg-0", {"pg-1"}, 7};
  // A foreign setting (an operator's, or lost): pg-1 may lack acknowledged commits.
  p.local.synchronous_standby_names = "*";
  SyncPlan plan = p.Plan();
  ASSERT_EQ(plan.actions.size(), 1u);
  EXPECT_EQ(DescribeAction(plan.actions[0]), "write_sync(pg-0: [], revision 7)");
  EXPECT_THAT(plan.summary, HasSubstr("PostgreSQL does not wait for it"));
  p.Apply(plan);
  // Then the usual join: PostgreSQL's setting first.
  plan = p.Plan();
  ASSERT_EQ(plan.actions.size(), 1u);
  EXPECT_EQ(DescribeAction(plan.actions[0]), "set_synchronous_standbys(pg-2)");

  // Extra names PostgreSQL waits for are simply relaxed.
  Primary q;
  q.view.sync = SyncRecord{"pg-0", {"pg-1"}, 7};
  q.local.synchronous_standby_names = SynchronousStandbyNames({"pg-1", "pg-3"});
  plan = q.Plan();
  ASSERT_EQ(plan.actions.size(), 1u);
  EXPECT_EQ(DescribeAction(plan.actions[0]), "set_synchronous_standbys(pg-1)");
}

TEST(PlanSyncStandbys, TurnedOffTheRecordPromisesNothingAndPostgresStopsWaiting) {
  Primary p;
  p.mode = SyncMode::kOff;
  p.view.sync = SyncRecord{"pg-0", {"pg-1"}, 7};
  p.local.synchronous_standby_names = SynchronousStandbyNames({"pg-1"});
  SyncPlan plan = p.Plan();
  ASSERT_EQ(plan.actions.size(), 2u);
  EXPECT_EQ(DescribeAction(plan.actions[0]), "write_sync(: [], revision 7)");
  EXPECT_EQ(DescribeAction(plan.actions[1]), "set_synchronous_standbys()");
  p.Apply(plan);
  EXPECT_TRUE(p.Plan().actions.empty());
  EXPECT_EQ(OutsideSyncSet(p.view.sync, "pg-3"), std::nullopt) << "a leader-less record restricts nobody";
}

TEST(SynchronousStandbyNames, TheCommitFenceIsOneMoreNameEveryCommitWaitsFor) {
  EXPECT_EQ(SynchronousStandbyNames({}, true), "ANY 1 (\"pgpilot_commit_fence\")");
  EXPECT_EQ(SynchronousStandbyNames({"pg-1", "pg-2"}, true),
            "ANY 3 (\"pgpilot_commit_fence\", \"pg-1\", \"pg-2\")");
  EXPECT_EQ(ParseSynchronousStandbyNames(SynchronousStandbyNames({"pg-2", "pg-1"}, true)), (Names{"pg-1", "pg-2"}))
      << "the standbys, without the fence";
  EXPECT_TRUE(NamesCommitFence(SynchronousStandbyNames({"pg-1"}, true)));
  EXPECT_FALSE(NamesCommitFence(SynchronousStandbyNames({"pg-1"}, false)));
  EXPECT_FALSE(NamesCommitFence(""));
  EXPECT_FALSE(NamesCommitFence("FIRST 1 (\"pgpilot_commit_fence\", \"pg-1\")")) << "not our form";
}

TEST(PlanSyncStandbys, WithTheCommitFenceEverySettingNamesItAsynchronousModeIncluded) {
  Primary p;
  p.commit_fence = true;
  p.mode = SyncMode::kOff;
  SyncPlan off = p.Plan();
  ASSERT_EQ(off.actions.size(), 1u);
  p.Apply(off);
  EXPECT_EQ(p.local.synchronous_standby_names, "ANY 1 (\"pgpilot_commit_fence\")");
  EXPECT_THAT(off.summary, HasSubstr("commit fence"));
  EXPECT_TRUE(p.Plan().actions.empty()) << "settled";

  // Synchronous mode on: the standbys join next to the fence, in the usual order.
  p.mode = SyncMode::kOn;
  p.Standby("pg-2").flushed = p.local.wal_position;
  for (int tick = 0; tick < 6; ++tick) {
    p.Apply(p.Plan(kT0 + std::chrono::seconds(2 * tick)));
    p.ExpectPostgresCoversTheRecord();
    EXPECT_TRUE(NamesCommitFence(p.local.synchronous_standby_names)) << p.local.synchronous_standby_names;
  }
  ASSERT_TRUE(p.view.sync.has_value());
  EXPECT_EQ(p.view.sync->members, Names{"pg-2"});
  EXPECT_EQ(p.local.synchronous_standby_names, "ANY 2 (\"pgpilot_commit_fence\", \"pg-2\")");

  // Turned off: the standbys go, the fence stays.
  p.commit_fence = true;
  p.mode = SyncMode::kOff;
  p.Apply(p.Plan());
  EXPECT_EQ(p.local.synchronous_standby_names, "ANY 1 (\"pgpilot_commit_fence\")");
  // The fence turned off: only its presence changes.
  p.commit_fence = false;
  SyncPlan unfenced = p.Plan();
  p.Apply(unfenced);
  EXPECT_EQ(p.local.synchronous_standby_names, "");
  EXPECT_THAT(unfenced.summary, HasSubstr("no longer wait for the commit fence"));
}

}  // namespace
}  // namespace pgpilot
