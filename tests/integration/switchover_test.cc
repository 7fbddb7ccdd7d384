// Planned switchover on real PostgreSQL 15, through `pgpilot ctl switchover`: the target becomes
// the primary, the old primary follows it without pg_rewind, nothing committed is lost, and bad
// requests are refused with the reason.
#include <chrono>
#include <iostream>

#include <gtest/gtest.h>

#include "harness.h"

namespace pgpilot::testing {
namespace {

using std::chrono::seconds;

constexpr int kTtl = 4;

long CountRows(LocalClusterUnderTest& cluster, int port) {
  auto rows = cluster.Sql(port, "SELECT count(*) FROM items");
  return rows && !rows->empty() ? std::stol((*rows)[0]) : -1;
}

TEST(Switchover, HandsThePrimaryToTheTargetAndTheOldPrimaryFollowsWithoutRewind) {
  LocalClusterUnderTest cluster(3, kTtl);
  CommandResult up = cluster.Up();
  ASSERT_EQ(up.exit_code, 0) << up.output;
  ASSERT_TRUE(cluster.Converged(3)) << cluster.ListJson().dump(2);
  std::string error;
  ASSERT_TRUE(cluster.SqlOnPrimary("CREATE TABLE items (id int primary key)", &error)) << error;
  ASSERT_TRUE(cluster.SqlOnPrimary("INSERT INTO items SELECT generate_series(1, 1000)", &error)) << error;

  for (int round = 1; round <= 2; ++round) {
    auto old_primary = cluster.Primary();
    ASSERT_TRUE(old_primary.has_value());
    std::string target;
    for (const auto& m : cluster.Members()) {
      if (m.name != old_primary->name) target = m.name;  // the last replica by name
    }
    CommandResult r = cluster.Ctl({"switchover", "--to", target}, 90);
    ASSERT_EQ(r.exit_code, 0) << r.output << "\n" << cluster.ListJson().dump(2);
    EXPECT_NE(r.output.find(target + " is the primary"), std::string::npos) << r.output;
    std::cout << "[ measured ] round " << round << ": " << r.output;

    ASSERT_TRUE(WaitUntil([&] { return cluster.Converged(3); }, seconds(60))) << cluster.ListJson().dump(2);
    auto now = cluster.Primary();
    ASSERT_TRUE(now.has_value());
    EXPECT_EQ(now->name, target);
    EXPECT_EQ(now->timeline, old_primary->timeline + 1);
    auto rejoined = cluster.Member(old_primary->name);
    ASSERT_TRUE(rejoined.has_value());
    EXPECT_EQ(rejoined->role, "replica");
    EXPECT_EQ(rejoined->timeline, now->timeline);
    EXPECT_EQ(CountRows(cluster, now->port), 1000) << "every committed row is on the new primary";
    ASSERT_TRUE(cluster.SqlOnPrimary("INSERT INTO items VALUES (" + std::to_string(1000 + round) + ")", &error))
        << error;
    EXPECT_TRUE(WaitUntil([&] { return CountRows(cluster, old_primary->port) == 1001; }, seconds(30)))
        << "the old primary streams from the new one";
    ASSERT_TRUE(cluster.SqlOnPrimary("DELETE FROM items WHERE id > 1000", &error)) << error;

    std::string log = cluster.ReadMemberFile(old_primary->name, "agent.log");
    EXPECT_NE(log.find("without pg_rewind"), std::string::npos) << "the old primary's agent log:\n" << log;
    EXPECT_EQ(log.find("rewind(from"), std::string::npos) << "no pg_rewind after a clean switchover";
  }
}

TEST(Switchover, RefusesWhatCannotWorkAndSaysWhy) {
  LocalClusterUnderTest cluster(3, kTtl);
  CommandResult up = cluster.Up();
  ASSERT_EQ(up.exit_code, 0) << up.output;
  auto primary = cluster.Primary();
  ASSERT_TRUE(primary.has_value());

  CommandResult unknown = cluster.Ctl({"switchover", "--to", "pg-9"});
  EXPECT_EQ(unknown.exit_code, 2) << unknown.output;
  EXPECT_NE(unknown.output.find("no member named pg-9"), std::string::npos) << unknown.output;

  CommandResult itself = cluster.Ctl({"switchover", "--to", primary->name});
  EXPECT_EQ(itself.exit_code, 1) << itself.output;
  EXPECT_NE(itself.output.find("leader already"), std::string::npos) << itself.output;

  CommandResult bad_time = cluster.Ctl({"switchover", "--at", "tomorrow"});
  EXPECT_EQ(bad_time.exit_code, 2) << bad_time.output;
  EXPECT_NE(bad_time.output.find("2026-12-02T10:00:00Z"), std::string::npos) << bad_time.output;

  // A scheduled switchover is pending until its time: the primary says so, and a second request
  // is refused meanwhile.
  CommandResult later = cluster.Ctl({"switchover", "--at", "2099-01-01T00:00:00Z"});
  EXPECT_EQ(later.exit_code, 0) << later.output;
  EXPECT_NE(later.output.find("scheduled for 2099-01-01T00:00:00.000Z"), std::string::npos) << later.output;
  CommandResult second = cluster.Ctl({"switchover"});
  EXPECT_EQ(second.exit_code, 1) << second.output;
  EXPECT_NE(second.output.find("already pending"), std::string::npos) << second.output;
  EXPECT_TRUE(WaitUntil([&] {
    auto json = cluster.ListJson();
    return json.dump().find("scheduled for") != std::string::npos;
  }, seconds(10))) << cluster.ListJson().dump(2);
  EXPECT_EQ(cluster.Primary()->name, primary->name) << "nothing happens before the time";
  CommandResult cancel = cluster.Ctl({"switchover", "--cancel"});
  EXPECT_EQ(cancel.exit_code, 0) << cancel.output;
  EXPECT_NE(cancel.output.find("dropped the request"), std::string::npos) << cancel.output;
  EXPECT_TRUE(cluster.ListJson()["switchover"].is_null()) << cluster.ListJson().dump(2);
}

}  // namespace
}  // namespace pgpilot::testing
