#include "core/lease.h"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "core/decide.h"
#include "core/defaults.h"

namespace pgpilot {
namespace {

const MonoTime kT0 = MonoTime{} + Duration(5'000'000);  // an arbitrary point on the monotonic clock

// TTLs worth checking: the minimum, the default, a long one and values that do not divide evenly.
const std::vector<Duration> kTtls = {kMinimumTtl, Duration(2001), Duration(3333), kDefaultTtl,
                                     Duration(30000), Duration(86'400'000)};

OwnLease LeaseSentAt(MonoTime sent, Duration ttl) { return OwnLease{7, 42, sent, ttl}; }

LeaderRecord Record(std::string holder, uint64_t term, uint64_t revision, Duration ttl = kDefaultTtl) {
  LeaderRecord r;
  r.holder = std::move(holder);
  r.term = term;
  r.ttl = ttl;
  r.revision = revision;
  r.lsn = Lsn{0x3000148};
  r.timeline = 1;
  return r;
}

// ---- the holder's side ----------------------------------------------------------------------

TEST(LeaseMargin, IsAPositiveFractionOfTheTtl) {
  for (Duration ttl : kTtls) {
    Duration margin = LeaseMargin(ttl);
    EXPECT_GT(margin, Duration(0)) << "ttl " << ttl.count();
    EXPECT_LT(margin, ttl) << "ttl " << ttl.count();
  }
}

TEST(LeaseMargin, GrowsWithTheTtl) {
  // The margin absorbs clock-rate differences over one ttl, so a longer ttl needs at least as much.
  for (size_t i = 1; i < kTtls.size(); ++i) {
    EXPECT_GE(LeaseMargin(kTtls[i]), LeaseMargin(kTtls[i - 1])) << "ttl " << kTtls[i].count();
  }
}

TEST(LeaseMargin, LeavesTheHolderTimeToRenewSeveralTimesAtTheDefaults) {
  // The leader renews every loop; the part of the ttl it may use must span more than one loop,
  // or a single slow tick would demote a healthy primary.
  Duration usable = kDefaultTtl - LeaseMargin(kDefaultTtl);
  EXPECT_GT(usable, 2 * kDefaultLoopWait);
}

TEST(OwnLeaseDeadline, IsTtlMinusMarginAfterTheRenewalWasSent) {
  for (Duration ttl : kTtls) {
    OwnLease lease = LeaseSentAt(kT0, ttl);
    EXPECT_EQ(OwnLeaseDeadline(lease), kT0 + (ttl - LeaseMargin(ttl))) << "ttl " << ttl.count();
  }
}

TEST(OwnLeaseDeadline, CountsFromTheSendTimeOnly) {
  // Moving the send time moves the deadline by exactly as much: nothing else (the time the answer
  // came back, the term, the revision) may extend it.
  OwnLease a = LeaseSentAt(kT0, kDefaultTtl);
  OwnLease b = LeaseSentAt(kT0 + Duration(1234), kDefaultTtl);
  EXPECT_EQ(OwnLeaseDeadline(b) - OwnLeaseDeadline(a), Duration(1234));
  OwnLease c = a;
  c.term = 99;
  c.revision = 1000;
  EXPECT_EQ(OwnLeaseDeadline(c), OwnLeaseDeadline(a));
}

TEST(WatchdogDeadline, FallsBetweenTheHoldersDeadlineAndAnyTakeover) {
  for (Duration ttl : kTtls) {
    OwnLease lease = LeaseSentAt(kT0, ttl);
    MonoTime own = OwnLeaseDeadline(lease);
    MonoTime watchdog = WatchdogDeadline(lease);
    // An observer that saw this revision at the very instant it was sent expires it at sent + ttl.
    MonoTime earliest_takeover = kT0 + ttl;
    EXPECT_LT(own, watchdog) << "the agent must get the chance to demote before the watchdog fires";
    EXPECT_LT(watchdog, earliest_takeover) << "the watchdog must fire before anyone may take over";
    // Documented: sent + ttl - margin/2.
    EXPECT_EQ(watchdog, kT0 + (ttl - LeaseMargin(ttl) / 2)) << "ttl " << ttl.count();
  }
}

TEST(OwnLeaseDeadline, HolderStopsBeforeAnObserverWithADriftingClockTakesOver) {
  // The header's promise: with clock rates within margin/ttl of each other, the old primary stops
  // before a new one can be promoted. Worst case: the holder's clock runs slow (by just under the
  // bound) relative to the observer's, so holder time h takes h / (1 - rate) of observer time,
  // and the observer saw the revision the instant it was sent.
  for (Duration ttl : kTtls) {
    double rate = 0.99 * static_cast<double>(LeaseMargin(ttl).count()) / static_cast<double>(ttl.count());
    double holder_stop_real_ms =
        static_cast<double>((ttl - LeaseMargin(ttl)).count()) / (1.0 - rate);
    // The observer saw the revision no earlier than it was sent; its clock is the reference.
    double observer_takeover_real_ms = static_cast<double>(ttl.count());
    EXPECT_LT(holder_stop_real_ms, observer_takeover_real_ms) << "ttl " << ttl.count();
  }
}

// ---- the observer's side --------------------------------------------------------------------

TEST(TrackLeader, FirstSightingStartsTheClockNow) {
  LeaderSighting s = TrackLeader(LeaderSighting{}, Record("pg-0", 1, 10), kT0);
  ASSERT_TRUE(s.record.has_value());
  EXPECT_EQ(s.record->holder, "pg-0");
  EXPECT_EQ(s.first_seen, kT0);
}

TEST(TrackLeader, SameRevisionKeepsTheFirstSighting) {
  LeaderSighting s = TrackLeader(LeaderSighting{}, Record("pg-0", 1, 10), kT0);
  for (int i = 1; i <= 20; ++i) {
    s = TrackLeader(s, Record("pg-0", 1, 10), kT0 + Duration(i * 1000));
    EXPECT_EQ(s.first_seen, kT0) << "tick " << i;
  }
}

TEST(TrackLeader, SameRevisionTakesTheLatestCopyOfTheRecord) {
  LeaderSighting s = TrackLeader(LeaderSighting{}, Record("pg-0", 1, 10), kT0);
  LeaderRecord again = Record("pg-0", 1, 10);
  again.lsn = Lsn{0x4000000};
  s = TrackLeader(s, again, kT0 + Duration(500));
  EXPECT_EQ(s.record->lsn, Lsn{0x4000000});
  EXPECT_EQ(s.first_seen, kT0);
}

TEST(TrackLeader, NewRevisionRestartsTheClock) {
  LeaderSighting s = TrackLeader(LeaderSighting{}, Record("pg-0", 1, 10), kT0);
  MonoTime later = kT0 + Duration(9000);
  s = TrackLeader(s, Record("pg-0", 1, 11), later);  // a renewal
  EXPECT_EQ(s.first_seen, later);
  EXPECT_EQ(s.record->revision, 11u);
}

TEST(TrackLeader, HolderOrTermChangeRestartsTheClockEvenOnAnEqualRevision) {
  // Revisions are opaque store versions; a different holder or term is a different lease even if
  // a store (after a restore, say) reused a revision number.
  LeaderSighting s = TrackLeader(LeaderSighting{}, Record("pg-0", 1, 10), kT0);
  MonoTime later = kT0 + Duration(4000);
  EXPECT_EQ(TrackLeader(s, Record("pg-1", 1, 10), later).first_seen, later);
  EXPECT_EQ(TrackLeader(s, Record("pg-0", 2, 10), later).first_seen, later);
}

TEST(TrackLeader, RecordGoneForgetsTheSighting) {
  LeaderSighting s = TrackLeader(LeaderSighting{}, Record("pg-0", 1, 10), kT0);
  s = TrackLeader(s, std::nullopt, kT0 + Duration(3000));
  EXPECT_FALSE(s.record.has_value());
  // The same record coming back is a fresh sighting, not one 3 s old.
  MonoTime back = kT0 + Duration(12000);
  s = TrackLeader(s, Record("pg-0", 1, 10), back);
  EXPECT_EQ(s.first_seen, back);
  EXPECT_EQ(AssessLeader(s, back).status, LeaderStatus::kValid);
}

TEST(AssessLeader, NoRecordIsNone) {
  EXPECT_EQ(AssessLeader(LeaderSighting{}, kT0).status, LeaderStatus::kNone);
}

TEST(AssessLeader, ValidUntilUnchangedForAWholeTtlOnTheObserversClock) {
  for (Duration ttl : kTtls) {
    LeaderSighting s{Record("pg-0", 3, 77, ttl), kT0};
    EXPECT_EQ(AssessLeader(s, kT0).status, LeaderStatus::kValid);
    EXPECT_EQ(AssessLeader(s, kT0 + ttl - Duration(1)).status, LeaderStatus::kValid)
        << "ttl " << ttl.count();
    EXPECT_EQ(AssessLeader(s, kT0 + ttl).status, LeaderStatus::kExpired) << "ttl " << ttl.count();
    EXPECT_EQ(AssessLeader(s, kT0 + ttl + Duration(60000)).status, LeaderStatus::kExpired);
  }
}

TEST(AssessLeader, UsesTheTtlWrittenInTheRecord) {
  // The holder's ttl is what it promised; an observer configured differently must not cut it short.
  LeaderSighting s{Record("pg-0", 3, 77, Duration(30000)), kT0};
  EXPECT_EQ(AssessLeader(s, kT0 + Duration(20000)).status, LeaderStatus::kValid);
  EXPECT_EQ(AssessLeader(s, kT0 + Duration(30000)).status, LeaderStatus::kExpired);
}

TEST(AssessLeader, ReportsHowLongTheRecordWasUnchanged) {
  LeaderSighting s{Record("pg-0", 3, 77), kT0};
  EXPECT_EQ(AssessLeader(s, kT0 + Duration(4321)).unchanged_for, Duration(4321));
  EXPECT_EQ(AssessLeader(s, kT0 + Duration(12000)).unchanged_for, Duration(12000));
}

TEST(AssessLeader, ReleasedIsReleasedAtOnce) {
  LeaderRecord r = Record("pg-0", 3, 78);
  r.released = true;
  LeaderSighting s{r, kT0};
  EXPECT_EQ(AssessLeader(s, kT0).status, LeaderStatus::kReleased);
  EXPECT_EQ(AssessLeader(s, kT0 + Duration(60000)).status, LeaderStatus::kReleased);
}

TEST(LeaderObservation, RegularRenewalsKeepTheLeaseValidIndefinitely) {
  // A holder renewing every second: the observer never sees one revision for a whole ttl.
  LeaderSighting s;
  for (int i = 0; i < 120; ++i) {
    MonoTime now = kT0 + Duration(i * 1000);
    s = TrackLeader(s, Record("pg-0", 1, 100 + static_cast<uint64_t>(i)), now);
    // Between renewals the observer ticks too.
    EXPECT_EQ(AssessLeader(s, now + Duration(900)).status, LeaderStatus::kValid) << "second " << i;
  }
}

TEST(LeaderObservation, ExpiresOneTtlAfterTheLastChangeTheObserverSaw) {
  LeaderSighting s;
  MonoTime now = kT0;
  uint64_t revision = 500;
  for (int i = 0; i < 5; ++i, now = now + Duration(1000)) {
    s = TrackLeader(s, Record("pg-0", 1, revision++), now);
  }
  MonoTime last_change_seen = now - Duration(1000);
  // The holder stops renewing; the observer keeps seeing the last revision every 250 ms.
  LeaderRecord last = Record("pg-0", 1, revision - 1);
  for (MonoTime t = now; t < last_change_seen + kDefaultTtl; t = t + Duration(250)) {
    s = TrackLeader(s, last, t);
    EXPECT_EQ(AssessLeader(s, t).status, LeaderStatus::kValid);
  }
  s = TrackLeader(s, last, last_change_seen + kDefaultTtl);
  EXPECT_EQ(AssessLeader(s, last_change_seen + kDefaultTtl).status, LeaderStatus::kExpired);
}

TEST(LeaderObservation, ALateRenewalRescuesTheLeaseBeforeExpiry) {
  LeaderSighting s = TrackLeader(LeaderSighting{}, Record("pg-0", 1, 1), kT0);
  MonoTime almost = kT0 + kDefaultTtl - Duration(1);
  s = TrackLeader(s, Record("pg-0", 1, 2), almost);
  EXPECT_EQ(AssessLeader(s, kT0 + kDefaultTtl).status, LeaderStatus::kValid);
  EXPECT_EQ(AssessLeader(s, almost + kDefaultTtl).status, LeaderStatus::kExpired);
}

TEST(LeaderStatusName, NamesEveryStatusDistinctly) {
  std::set<std::string> names;
  for (LeaderStatus s : {LeaderStatus::kNone, LeaderStatus::kValid, LeaderStatus::kExpired,
                         LeaderStatus::kReleased}) {
    std::string name = LeaderStatusName(s);
    EXPECT_FALSE(name.empty());
    names.insert(name);
  }
  EXPECT_EQ(names.size(), 4u);
}

// ---- the lease in the agent's memory (decide.h) ---------------------------------------------

TEST(ApplyLeaseOutcome, GrantedKeepsTheRecordAndTheSendTime) {
  LeaderRecord written = Record("pg-1", 4, 90, Duration(8000));
  MonoTime sent = kT0 + Duration(100);
  AgentMemory m = ApplyLeaseOutcome(AgentMemory{}, LeaseOutcome{true, written, sent});
  ASSERT_TRUE(m.lease.has_value());
  EXPECT_EQ(m.lease->term, 4u);
  EXPECT_EQ(m.lease->revision, 90u);
  EXPECT_EQ(m.lease->ttl, Duration(8000));
  EXPECT_EQ(m.lease->sent_at, sent) << "the deadline counts from the send, not from the answer";
  EXPECT_EQ(OwnLeaseDeadline(*m.lease), sent + (Duration(8000) - LeaseMargin(Duration(8000))));
}

TEST(ApplyLeaseOutcome, RefusedDropsTheLeaseAndNothingElse) {
  AgentMemory before;
  before.state = NodeState::kPrimary;
  before.lease = OwnLease{4, 90, kT0, kDefaultTtl};
  before.previous_leader = "pg-0";
  AgentMemory after = ApplyLeaseOutcome(before, LeaseOutcome{false, Record("pg-2", 5, 91), kT0});
  EXPECT_FALSE(after.lease.has_value());
  after.lease = before.lease;
  EXPECT_EQ(after, before);
}

TEST(NextWakeup, IsOneLoopAwayWithoutALease) {
  EXPECT_EQ(NextWakeup(AgentMemory{}, kT0, kDefaultLoopWait), kT0 + kDefaultLoopWait);
}

TEST(NextWakeup, NeverLaterThanTheOwnLeaseDeadline) {
  AgentMemory m;
  m.lease = OwnLease{1, 1, kT0, kDefaultTtl};
  MonoTime deadline = OwnLeaseDeadline(*m.lease);
  // Far from the deadline: the loop interval decides.
  EXPECT_EQ(NextWakeup(m, kT0, kDefaultLoopWait), kT0 + kDefaultLoopWait);
  // Close to it: wake up exactly at the deadline to demote in time.
  MonoTime close = deadline - Duration(300);
  EXPECT_EQ(NextWakeup(m, close, kDefaultLoopWait), deadline);
  // A long loop_wait must not sleep through the deadline either.
  EXPECT_EQ(NextWakeup(m, kT0, Duration(60000)), deadline);
}

}  // namespace
}  // namespace pgpilot
