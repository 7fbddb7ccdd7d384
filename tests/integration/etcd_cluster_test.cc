// A local cluster whose agents keep their lease in a real etcd: failover after kill -9, and a
// store outage (etcd frozen) during which the primary stops accepting writes.
#include <signal.h>

#include <chrono>
#include <iostream>

#include <gtest/gtest.h>

#include "harness.h"
#include "platform/process.h"
#include "support/etcd_process.h"

namespace pgpilot::testing {
namespace {

using std::chrono::seconds;

constexpr int kTtl = 4;

bool AnyMemberWritable(LocalClusterUnderTest& cluster, int nodes) {
  for (int i = 0; i < nodes; ++i) {
    auto rows = cluster.Sql(cluster.pg_port(i), "SELECT pg_is_in_recovery()::text");
    if (rows && !rows->empty() && (*rows)[0] == "false") return true;
  }
  return false;
}

TEST(EtcdCluster, FailsOverAfterKillAndStopsWritesWhileTheStoreIsGone) {
  auto etcd = EtcdProcess::Start();
  ASSERT_TRUE(etcd.ok()) << etcd.error().ToString();
  std::string url = "etcd://127.0.0.1:" + std::to_string((*etcd)->client_port());
  LocalClusterUnderTest cluster(3, kTtl, url);
  CommandResult up = cluster.Up();
  ASSERT_EQ(up.exit_code, 0) << up.output << (*etcd)->LogTail();
  ASSERT_TRUE(cluster.Converged(3)) << cluster.ListJson().dump(2);
  std::string error;
  ASSERT_TRUE(cluster.SqlOnPrimary("CREATE TABLE items AS SELECT generate_series(1, 20) AS id", &error))
      << error;

  // kill -9 of the primary's agent and PostgreSQL: etcd expires its lease, a replica takes over.
  auto primary = cluster.Primary();
  ASSERT_TRUE(primary.has_value());
  auto takeover = cluster.KillAndAwaitTakeover(*primary, "INSERT INTO items VALUES (21)");
  ASSERT_TRUE(takeover.new_primary) << takeover.failure << "\n" << cluster.ListJson().dump(2);
  std::cout << "[ measured ] etcd store: writable again " << takeover.took.count()
            << " ms after kill -9 (ttl " << kTtl << " s)\n";
  ASSERT_TRUE(WaitUntil([&] { return cluster.Converged(2, primary->name); }, seconds(60)))
      << cluster.ListJson().dump(2);

  // etcd freezes: no member can prove a lease, so within the ttl (plus a loop) nobody accepts
  // writes, while the replicas keep serving reads.
  auto new_primary = cluster.Primary();
  ASSERT_TRUE(new_primary.has_value());
  ASSERT_TRUE((*etcd)->Pause().ok());
  bool fenced = WaitUntil([&] { return !AnyMemberWritable(cluster, 3); }, seconds(kTtl + 6));
  auto count_on = [&](int port) {
    auto rows = cluster.Sql(port, "SELECT count(*) FROM items");
    return rows && !rows->empty() ? std::stol((*rows)[0]) : -1L;
  };
  long on_replica = -1;
  for (int i = 0; i < 3; ++i) {
    int port = cluster.pg_port(i);
    if (port != primary->port && port != new_primary->port) on_replica = count_on(port);
  }
  // The demoted primary comes back read-only by itself, still without the store.
  bool demoted_serves_reads =
      WaitUntil([&] { return count_on(new_primary->port) == 21; }, seconds(30));
  ASSERT_TRUE((*etcd)->Resume().ok());
  EXPECT_TRUE(fenced) << "a member still accepted writes while etcd was frozen";
  EXPECT_EQ(on_replica, 21) << "the replica keeps serving reads without the store";
  EXPECT_TRUE(demoted_serves_reads) << "the demoted primary should serve reads read-only";

  // etcd is back: the cluster converges without help, and the killed member rejoins on `up`.
  ASSERT_TRUE(WaitUntil([&] { return cluster.Converged(2, primary->name); }, seconds(60)))
      << cluster.ListJson().dump(2);
  up = cluster.Up();
  ASSERT_EQ(up.exit_code, 0) << up.output;
  ASSERT_TRUE(WaitUntil([&] { return cluster.Converged(3); }, seconds(60)))
      << cluster.ListJson().dump(2);
  auto rows = cluster.Sql(primary->port, "SELECT count(*) FROM items");
  ASSERT_TRUE(rows.has_value());
  EXPECT_EQ((*rows)[0], "21");
}

TEST(EtcdCluster, ThreeMemberEtcdLosesAMemberDuringAFailover) {
  auto etcd = EtcdProcess::StartCluster(3);
  ASSERT_TRUE(etcd.ok()) << etcd.error().ToString();
  std::string url = "etcd://";
  for (size_t i = 0; i < etcd->size(); ++i) {
    url += (i ? "," : "") + std::string("127.0.0.1:") + std::to_string((*etcd)[i]->client_port());
  }
  LocalClusterUnderTest cluster(3, kTtl, url);
  CommandResult up = cluster.Up();
  ASSERT_EQ(up.exit_code, 0) << up.output;
  ASSERT_TRUE(cluster.Converged(3)) << cluster.ListJson().dump(2);
  std::string error;
  ASSERT_TRUE(cluster.SqlOnPrimary("CREATE TABLE items AS SELECT generate_series(1, 5) AS id", &error))
      << error;

  // The first etcd endpoint every agent uses dies together with the primary: the agents fail
  // over to the next endpoint, the two remaining etcd members keep quorum, a replica takes over.
  auto primary = cluster.Primary();
  ASSERT_TRUE(primary.has_value());
  ASSERT_EQ(kill((*etcd)[0]->pid(), SIGKILL), 0);
  auto takeover = cluster.KillAndAwaitTakeover(*primary, "INSERT INTO items VALUES (6)");
  ASSERT_TRUE(takeover.new_primary) << takeover.failure << "\n" << cluster.ListJson().dump(2);
  std::cout << "[ measured ] 3-member etcd, one etcd member and the primary killed: writable again "
            << takeover.took.count() << " ms (ttl " << kTtl << " s)\n";
  ASSERT_TRUE(WaitUntil([&] { return cluster.Converged(2, primary->name); }, seconds(60)))
      << cluster.ListJson().dump(2);
}

}  // namespace
}  // namespace pgpilot::testing
