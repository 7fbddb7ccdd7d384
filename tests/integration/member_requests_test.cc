// The operator's requests to single members on a real local cluster: `ctl restart` (one member,
// every member, only those with a pending restart) and `ctl reinit` (a replica re-cloned with its
// old data directory kept aside), and cluster-wide ttl/loop_wait changed at run time.
#include <dirent.h>

#include <chrono>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "harness.h"

namespace pgpilot::testing {
namespace {

using std::chrono::seconds;

constexpr int kTtl = 4;

std::string Contains(const std::string& text, const std::string& words) {
  return text.find(words) == std::string::npos ? "missing \"" + words + "\" in:\n" + text : "";
}

std::vector<std::string> Entries(const std::string& dir) {
  std::vector<std::string> names;
  if (DIR* d = opendir(dir.c_str())) {
    while (dirent* e = readdir(d)) names.emplace_back(e->d_name);
    closedir(d);
  }
  return names;
}

std::optional<MemberView> AReplica(LocalClusterUnderTest& cluster) {
  for (const MemberView& m : cluster.Members()) {
    if (m.role == "replica") return m;
  }
  return std::nullopt;
}

TEST(CtlRestart, RestartsMembersInTheirRolesWithoutAFailoverAndAppliesPendingParameters) {
  LocalClusterUnderTest cluster(3, kTtl);
  CommandResult up = cluster.Up();
  ASSERT_EQ(up.exit_code, 0) << up.output;
  auto primary = cluster.Primary();
  ASSERT_TRUE(primary.has_value());
  uint64_t term = cluster.ListJson()["leader"].value("term", uint64_t{0});

  // Nothing pending yet.
  CommandResult none = cluster.Ctl({"restart", "--pending"});
  EXPECT_EQ(none.exit_code, 0) << none.output;
  EXPECT_EQ(Contains(none.output, "no member has a restart pending"), "");

  // A parameter that needs a restart: every member says so, `restart --pending` applies it.
  ASSERT_EQ(cluster.Ctl({"edit-config", "--set", "postgresql.parameters.max_connections=150"}).exit_code, 0);
  ASSERT_TRUE(WaitUntil([&] {
    auto json = cluster.ListJson();
    if (!json.contains("members")) return false;
    int pending = 0;
    for (const auto& m : json["members"]) pending += m.value("pending_restart", false) ? 1 : 0;
    return pending == 3;
  }, seconds(30))) << cluster.ListJson().dump(2);
  CommandResult restarted = cluster.Ctl({"restart", "--pending"});
  ASSERT_EQ(restarted.exit_code, 0) << restarted.output;
  EXPECT_EQ(Contains(restarted.output, primary->name + " restarted: runs as primary"), "");
  for (int i = 0; i < 3; ++i) {
    auto v = cluster.Sql(cluster.pg_port(i), "SHOW max_connections");
    ASSERT_TRUE(v && !v->empty()) << "member " << i;
    EXPECT_EQ((*v)[0], "150") << "member " << i;
  }
  EXPECT_EQ(cluster.Ctl({"list"}).output.find("restart pending"), std::string::npos);
  // The primary kept its lease: same holder, same term, same timeline.
  auto after = cluster.ListJson();
  EXPECT_EQ(after["leader"].value("holder", ""), primary->name);
  EXPECT_EQ(after["leader"].value("term", uint64_t{0}), term) << "no failover happened";
  EXPECT_EQ(cluster.Primary()->timeline, primary->timeline);

  // One replica, by name: a new PostgreSQL process, streaming again.
  auto replica = AReplica(cluster);
  ASSERT_TRUE(replica.has_value());
  CommandResult one = cluster.Ctl({"restart", replica->name});
  ASSERT_EQ(one.exit_code, 0) << one.output;
  EXPECT_EQ(Contains(one.output, replica->name + " restarted: runs as replica"), "");
  EXPECT_NE(cluster.Member(replica->name)->postgres_pid, replica->postgres_pid);
  EXPECT_TRUE(WaitUntil([&] { return cluster.Converged(3); }, seconds(30))) << cluster.ListJson().dump(2);
  std::string error;
  EXPECT_TRUE(cluster.SqlOnPrimary("CREATE TABLE after_restart(x int)", &error)) << error;

  // Bad input names the problem.
  CommandResult unknown = cluster.Ctl({"restart", "pg-9"});
  EXPECT_NE(unknown.exit_code, 0);
  EXPECT_EQ(Contains(unknown.output, "no member pg-9"), "");
}

TEST(CtlReinit, AReplicaIsReclonedWithItsOldDirectoryKeptAsideAndTheLeaderIsRefused) {
  LocalClusterUnderTest cluster(3, kTtl);
  CommandResult up = cluster.Up();
  ASSERT_EQ(up.exit_code, 0) << up.output;
  auto primary = cluster.Primary();
  ASSERT_TRUE(primary.has_value());
  std::string error;
  ASSERT_TRUE(cluster.SqlOnPrimary("CREATE TABLE before_reinit AS SELECT generate_series(1, 1000) AS x", &error))
      << error;

  CommandResult leader = cluster.Ctl({"reinit", primary->name, "--yes"});
  EXPECT_EQ(leader.exit_code, 1) << leader.output;
  EXPECT_EQ(Contains(leader.output, "is the leader"), "");
  CommandResult unconfirmed = cluster.Ctl({"reinit", primary->name == "pg-0" ? "pg-1" : "pg-0"});
  EXPECT_NE(unconfirmed.exit_code, 0) << unconfirmed.output;
  EXPECT_EQ(Contains(unconfirmed.output, "not confirmed: nothing was changed"), "");

  auto replica = AReplica(cluster);
  ASSERT_TRUE(replica.has_value());
  std::string member_dir = cluster.dir() + "/" + replica->name;
  for (const std::string& name : Entries(member_dir)) {
    ASSERT_EQ(name.find("aside"), std::string::npos) << "nothing kept aside before: " << name;
  }
  CommandResult reinit = cluster.Ctl({"reinit", replica->name, "--yes"});
  ASSERT_EQ(reinit.exit_code, 0) << reinit.output;
  EXPECT_EQ(Contains(reinit.output, replica->name + " re-initialized: runs as replica"), "");

  int kept = 0;
  for (const std::string& name : Entries(member_dir)) {
    if (name.find("data.aside") == 0) {
      ++kept;
      auto inside = Entries(member_dir + "/" + name);
      EXPECT_NE(std::find(inside.begin(), inside.end(), "PG_VERSION"), inside.end())
          << "the old data directory is whole";
    }
  }
  EXPECT_EQ(kept, 1) << "the old data directory is kept aside, not deleted";
  ASSERT_TRUE(WaitUntil([&] { return cluster.Converged(3); }, seconds(60))) << cluster.ListJson().dump(2);
  auto count = cluster.Sql(replica->port, "SELECT count(*) FROM before_reinit");
  ASSERT_TRUE(count && !count->empty());
  EXPECT_EQ((*count)[0], "1000") << "the fresh clone has the data";
  EXPECT_EQ(cluster.Primary()->name, primary->name);
}

TEST(ClusterConfig, TheClusterWideTtlAppliesAtRunTimeAndBoundsTheNextFailover) {
  LocalClusterUnderTest cluster(3, 10);
  CommandResult up = cluster.Up();
  ASSERT_EQ(up.exit_code, 0) << up.output;
  CommandResult bad = cluster.Ctl({"edit-config", "--set", "ttl=4", "--set", "loop_wait=3"});
  EXPECT_EQ(bad.exit_code, 2) << bad.output;
  EXPECT_EQ(Contains(bad.output, "more than half of ttl"), "");

  CommandResult set = cluster.Ctl({"edit-config", "--set", "ttl=3", "--set", "loop_wait=0.5"});
  ASSERT_EQ(set.exit_code, 0) << set.output;
  ASSERT_TRUE(WaitUntil([&] {
    return cluster.ListJson()["leader"].value("ttl_ms", int64_t{0}) == 3000;
  }, seconds(30))) << cluster.ListJson().dump(2);

  // The agents' own files say 10 s; the store's 3 s is what a failover now waits for.
  auto primary = cluster.Primary();
  ASSERT_TRUE(primary.has_value());
  auto takeover = cluster.KillAndAwaitTakeover(*primary, "CREATE TABLE IF NOT EXISTS after_ttl(x int)");
  ASSERT_TRUE(takeover.new_primary.has_value()) << takeover.failure;
  EXPECT_LT(takeover.took, std::chrono::milliseconds(9000))
      << "a failover bounded by the 10 s ttl of the config files would take longer";
}

}  // namespace
}  // namespace pgpilot::testing
