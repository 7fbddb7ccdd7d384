// The store's cluster-wide settings on a real local cluster: `ctl pause`/`resume` (maintenance),
// `ctl edit-config`/`show-config` (synchronous mode switched on at run time), `ctl history`.
#include <signal.h>

#include <chrono>
#include <thread>

#include <gtest/gtest.h>

#include "harness.h"

namespace pgpilot::testing {
namespace {

using std::chrono::seconds;

constexpr int kTtl = 4;

bool AllReasonsSay(LocalClusterUnderTest& cluster, const std::string& words) {
  auto json = cluster.ListJson();
  if (!json.contains("members")) return false;
  for (const auto& m : json["members"]) {
    if (m.value("reason", "").find(words) == std::string::npos) return false;
  }
  return true;
}

TEST(Maintenance, APausedClusterNeitherRestartsNorFailsOverUntilResumed) {
  LocalClusterUnderTest cluster(3, kTtl);
  CommandResult up = cluster.Up();
  ASSERT_EQ(up.exit_code, 0) << up.output;
  auto primary = cluster.Primary();
  ASSERT_TRUE(primary.has_value());

  CommandResult paused = cluster.Ctl({"pause"});
  ASSERT_EQ(paused.exit_code, 0) << paused.output;
  EXPECT_NE(paused.output.find("pause: true"), std::string::npos) << paused.output;
  ASSERT_TRUE(WaitUntil([&] { return AllReasonsSay(cluster, "paused (maintenance)"); }, seconds(20)))
      << cluster.ListJson().dump(2);
  CommandResult list = cluster.Ctl({"list"});
  EXPECT_NE(list.output.find("MAINTENANCE MODE"), std::string::npos) << list.output;

  // The primary's PostgreSQL dies: nobody restarts it and nobody takes over, for 3 ttls.
  ASSERT_EQ(kill(primary->postgres_pid, SIGKILL), 0);
  std::this_thread::sleep_for(seconds(3 * kTtl));
  auto members = cluster.Members();
  for (const auto& m : members) {
    EXPECT_NE(m.role, "primary") << m.name << " became primary during maintenance";
  }
  auto still = cluster.Member(primary->name);
  ASSERT_TRUE(still.has_value());
  EXPECT_TRUE(still->holds_lease || cluster.ListJson()["leader"].value("holder", "") == primary->name)
      << "the leader keeps its lease while paused\n" << cluster.ListJson().dump(2);

  CommandResult resumed = cluster.Ctl({"resume"});
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
  ASSERT_TRUE(WaitUntil([&] { return cluster.Converged(3); }, seconds(60))) << cluster.ListJson().dump(2);
  EXPECT_EQ(cluster.Primary()->name, primary->name) << "the lease holder restarts its PostgreSQL";
}

TEST(ClusterConfig, EditConfigTurnsOnSynchronousModeAndHistoryShowsSwitchovers) {
  LocalClusterUnderTest cluster(3, kTtl);
  CommandResult up = cluster.Up();
  ASSERT_EQ(up.exit_code, 0) << up.output;

  CommandResult bad = cluster.Ctl({"edit-config", "--set", "synchronous_modes=on"});
  EXPECT_EQ(bad.exit_code, 2) << bad.output;
  EXPECT_NE(bad.output.find("'synchronous_modes' is not a cluster-wide setting"), std::string::npos) << bad.output;
  CommandResult managed = cluster.Ctl({"edit-config", "--set", "postgresql.parameters.port=1"});
  EXPECT_EQ(managed.exit_code, 2) << managed.output;
  EXPECT_NE(managed.output.find("managed by pgpilot"), std::string::npos) << managed.output;

  CommandResult set = cluster.Ctl({"edit-config", "--set", "synchronous_mode=on", "--set",
                                    "maximum_lag_on_failover=2097152"});
  ASSERT_EQ(set.exit_code, 0) << set.output;
  CommandResult shown = cluster.Ctl({"show-config"});
  EXPECT_NE(shown.output.find("synchronous_mode: on"), std::string::npos) << shown.output;
  EXPECT_NE(shown.output.find("maximum_lag_on_failover: 2097152"), std::string::npos) << shown.output;
  // The primary turns synchronous replication on by itself.
  EXPECT_TRUE(WaitUntil([&] {
    auto p = cluster.Primary();
    if (!p) return false;
    auto names = cluster.Sql(p->port, "SHOW synchronous_standby_names");
    return names && !names->empty() && (*names)[0].rfind("ANY 1 (", 0) == 0;
  }, seconds(30))) << cluster.ListJson().dump(2);
  EXPECT_TRUE(WaitUntil([&] { return !cluster.ListJson()["sync"].is_null() &&
                                     !cluster.ListJson()["sync"]["members"].empty(); }, seconds(30)))
      << cluster.ListJson().dump(2);

  CommandResult empty = cluster.Ctl({"history"});
  EXPECT_EQ(empty.exit_code, 0);
  EXPECT_NE(empty.output.find("no timeline switches"), std::string::npos) << empty.output;
  CommandResult switched = cluster.Ctl({"switchover"});
  ASSERT_EQ(switched.exit_code, 0) << switched.output;
  CommandResult history = cluster.Ctl({"history"});
  EXPECT_NE(history.output.find("TL"), std::string::npos) << history.output;
  EXPECT_NE(history.output.find("switchover from "), std::string::npos) << history.output;

  // PostgreSQL parameters reach every member with a reload; one that needs a restart says so.
  CommandResult params = cluster.Ctl({"edit-config", "--set", "postgresql.parameters.work_mem=7MB",
                                       "--set", "postgresql.parameters.max_connections=150"});
  ASSERT_EQ(params.exit_code, 0) << params.output;
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(WaitUntil([&] {
      auto v = cluster.Sql(cluster.pg_port(i), "SHOW work_mem");
      return v && !v->empty() && (*v)[0] == "7MB";
    }, seconds(30))) << "member " << i;
  }
  EXPECT_TRUE(WaitUntil([&] {
    return cluster.Ctl({"list"}).output.find("restart pending") != std::string::npos;
  }, seconds(30))) << cluster.Ctl({"list"}).output;

  CommandResult off = cluster.Ctl({"edit-config", "--set", "synchronous_mode="});
  ASSERT_EQ(off.exit_code, 0) << off.output;
  EXPECT_EQ(cluster.Ctl({"show-config"}).output.find("synchronous_mode: "), std::string::npos)
      << "an empty value unsets it";
}

}  // namespace
}  // namespace pgpilot::testing
