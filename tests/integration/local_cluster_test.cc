// End-to-end behaviour of a local 3-node cluster on real PostgreSQL 15, driven through the
// pgpilot binary exactly as a user drives it: up, ctl list/dsn, kill -9, SIGSTOP, down.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>
#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include <gtest/gtest.h>

#include "harness.h"
#include "platform/clock.h"
#include "platform/process.h"
#include "store/sqlite_store.h"

namespace pgpilot::testing {
namespace {

using std::chrono::seconds;

constexpr int kTtl = 4;

void ExpectUpHealthy(LocalClusterUnderTest& cluster) {
  CommandResult up = cluster.Up();
  ASSERT_EQ(up.exit_code, 0) << up.output;
  ASSERT_TRUE(cluster.Converged(3)) << cluster.ListJson().dump(2);
}

std::string SystemIdentifier(LocalClusterUnderTest& cluster, int port) {
  auto rows = cluster.Sql(port, "SELECT system_identifier::text FROM pg_control_system()");
  return rows && !rows->empty() ? (*rows)[0] : "";
}

// Rows of the test table seen on `port`, or -1 when the query fails.
long CountRows(LocalClusterUnderTest& cluster, int port) {
  auto rows = cluster.Sql(port, "SELECT count(*) FROM items");
  return rows && !rows->empty() ? std::stol((*rows)[0]) : -1;
}

TEST(LocalCluster, BootstrapsReplicatesFailsOverAndRejoins) {
  LocalClusterUnderTest cluster(3, kTtl);
  ExpectUpHealthy(cluster);

  // One primary (holding the lease), two streaming replicas, all with data checksums and the
  // same system identifier: one initdb, two clones.
  auto primary = cluster.Primary();
  ASSERT_TRUE(primary.has_value());
  std::string system_id = SystemIdentifier(cluster, primary->port);
  ASSERT_FALSE(system_id.empty());
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(SystemIdentifier(cluster, cluster.pg_port(i)), system_id) << "member " << i;
    auto checksums = cluster.Sql(cluster.pg_port(i), "SHOW data_checksums");
    ASSERT_TRUE(checksums.has_value());
    EXPECT_EQ((*checksums)[0], "on");
  }
  // The replication role exists, can replicate, and is not a superuser.
  auto repl = cluster.Sql(primary->port,
                          "SELECT rolreplication::text || ',' || rolsuper::text FROM pg_roles "
                          "WHERE rolname = 'replicator'");
  ASSERT_TRUE(repl.has_value());
  ASSERT_EQ(repl->size(), 1u);
  EXPECT_EQ((*repl)[0], "true,false");

  // A write through the printed connection string reaches the primary and the replicas.
  std::string error;
  ASSERT_TRUE(cluster.SqlOnPrimary("CREATE TABLE items (id int primary key, note text)", &error))
      << error;
  ASSERT_TRUE(cluster.SqlOnPrimary("INSERT INTO items SELECT g, 'before' FROM generate_series(1, 100) g",
                                   &error))
      << error;
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(WaitUntil([&] { return CountRows(cluster, cluster.pg_port(i)) == 100; }, seconds(30)))
        << "member " << i;
  }

  // kill -9 the primary's agent and PostgreSQL: a replica takes over by itself.
  auto old_primary = *primary;
  auto takeover = cluster.KillAndAwaitTakeover(old_primary, "INSERT INTO items VALUES (101, 'after failover')");
  ASSERT_TRUE(takeover.new_primary) << takeover.failure << "\n" << cluster.ListJson().dump(2);
  const std::optional<MemberView>& new_primary = takeover.new_primary;
  std::cout << "[ measured ] writable again " << takeover.took.count() << " ms after kill -9 (ttl "
            << kTtl << " s)\n";
  EXPECT_GT(new_primary->timeline, old_primary.timeline);
  EXPECT_EQ(CountRows(cluster, new_primary->port), 101);

  // The remaining replica follows the new primary on its timeline.
  ASSERT_TRUE(WaitUntil([&] { return cluster.Converged(2, old_primary.name); }, seconds(60)))
      << cluster.ListJson().dump(2);

  // `up` again restarts the killed member: it rejoins as a replica of the new primary (pg_rewind
  // if it diverged), keeps its own data directory, and receives the writes it missed.
  CommandResult up = cluster.Up();
  ASSERT_EQ(up.exit_code, 0) << up.output;
  ASSERT_TRUE(WaitUntil([&] { return cluster.Converged(3); }, seconds(60)))
      << cluster.ListJson().dump(2);
  auto rejoined = cluster.Member(old_primary.name);
  ASSERT_TRUE(rejoined.has_value());
  EXPECT_EQ(rejoined->role, "replica");
  EXPECT_EQ(rejoined->timeline, new_primary->timeline);
  EXPECT_TRUE(WaitUntil([&] { return CountRows(cluster, old_primary.port) == 101; }, seconds(30)));
  EXPECT_EQ(SystemIdentifier(cluster, old_primary.port), system_id);
  for (const auto& entry : std::filesystem::directory_iterator(cluster.dir() + "/" + old_primary.name)) {
    EXPECT_EQ(entry.path().filename().string().find(".aside"), std::string::npos)
        << "rejoining must not replace the data directory: " << entry.path();
  }
}

TEST(LocalCluster, PromotionTakesTheTimelineNumberTheHistoryReserved) {
  // A promotion that was recorded in the history but never happened (its member was fenced
  // first) reserved timeline 5. The next failover must not reuse a number: PostgreSQL is made to
  // take 6, with the history saying where 6 came from, and the old primary rejoins on it.
  // With the commit fence on, the promoting replica's startup process used to rescan for the
  // latest timeline while the skipped numbers' history files were being written, adopt one of
  // them and make it 6's parent (every run); the files now end timeline 1 before any replay
  // position, so no startup process adopts them.
  LocalClusterUnderTest cluster(3, kTtl, "", {"--commit-fence", "true"});
  ExpectUpHealthy(cluster);
  auto old_primary = cluster.Primary();
  ASSERT_TRUE(old_primary.has_value());
  std::string error;
  ASSERT_TRUE(cluster.SqlOnPrimary("CREATE TABLE items (id int primary key)", &error)) << error;
  ASSERT_TRUE(cluster.SqlOnPrimary("INSERT INTO items VALUES (1)", &error)) << error;

  RealClock clock;
  auto store = SqliteStore::Open(cluster.dir() + "/store.db", "local", clock);
  ASSERT_TRUE(store.ok()) << store.error().ToString();
  HistoryEntry reserved{5, Lsn{0x3000000}, 1, old_primary->name, "pg-x", 9, WallTime{1}, "reserved, never promoted"};
  ASSERT_TRUE((*store)->AppendHistory(reserved).ok());

  auto takeover = cluster.KillAndAwaitTakeover(*old_primary, "INSERT INTO items VALUES (2)");
  ASSERT_TRUE(takeover.new_primary) << takeover.failure << "\n" << cluster.ListJson().dump(2);
  EXPECT_EQ(takeover.new_primary->timeline, 6) << cluster.ListJson().dump(2);
  auto tli = cluster.Sql(takeover.new_primary->port, "SELECT timeline_id FROM pg_control_checkpoint()");
  ASSERT_TRUE(tli && !tli->empty());
  EXPECT_TRUE(WaitUntil([&] {
    auto now = cluster.Sql(takeover.new_primary->port, "SELECT timeline_id FROM pg_control_checkpoint()");
    return now && !now->empty() && (*now)[0] == "6";
  }, seconds(30))) << "PostgreSQL's own timeline";
  auto view = (*store)->Load();
  ASSERT_TRUE(view.ok());
  const HistoryEntry* six = nullptr;
  for (const auto& h : view->history) {
    if (h.timeline == 6) six = &h;
  }
  ASSERT_NE(six, nullptr) << "the promotion records its timeline";
  EXPECT_EQ(six->parent, 1u);
  EXPECT_EQ(six->new_leader, takeover.new_primary->name);
  // The skipped numbers 2..5 have valid history files on the new primary (the surviving replica,
  // still on timeline 1, fetches each of them before it can follow timeline 6), and timeline 6's
  // own history file is PostgreSQL's: parent 1.
  std::string wal = cluster.dir() + "/" + takeover.new_primary->name + "/data/pg_wal/";
  auto read = [&](const char* name) {
    std::ifstream in(wal + name);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  };
  for (const char* skipped : {"00000002.history", "00000003.history", "00000004.history", "00000005.history"}) {
    std::string text = read(skipped);
    EXPECT_EQ(text.rfind("1\t", 0), 0u) << skipped << ": " << text;
    EXPECT_NE(text.find("timeline number skipped"), std::string::npos) << skipped;
  }
  std::string six_file = read("00000006.history");
  EXPECT_EQ(six_file.rfind("1\t", 0), 0u) << six_file;
  EXPECT_EQ(six_file.find("skipped"), std::string::npos) << six_file;

  ASSERT_TRUE(WaitUntil([&] { return cluster.Converged(2, old_primary->name); }, seconds(60)))
      << cluster.ListJson().dump(2);
  CommandResult up = cluster.Up();
  ASSERT_EQ(up.exit_code, 0) << up.output;
  ASSERT_TRUE(WaitUntil([&] { return cluster.Converged(3); }, seconds(60))) << cluster.ListJson().dump(2);
  EXPECT_EQ(cluster.Member(old_primary->name)->timeline, 6);
  EXPECT_TRUE(WaitUntil([&] { return CountRows(cluster, old_primary->port) == 2; }, seconds(30)));
}

TEST(LocalCluster, FrozenPrimaryAgentFencesItsPostgresBeforeAnotherIsPromoted) {
  LocalClusterUnderTest cluster(3, kTtl);
  ExpectUpHealthy(cluster);
  auto primary = cluster.Primary();
  ASSERT_TRUE(primary.has_value());
  std::string error;
  ASSERT_TRUE(cluster.SqlOnPrimary("CREATE TABLE items (id int)", &error)) << error;

  // Freeze only the agent: its PostgreSQL keeps running and would accept writes forever if
  // nothing fenced it. The watchdog must stop it before the lease can expire for the others.
  ASSERT_EQ(kill(primary->agent_pid, SIGSTOP), 0);
  bool promoted_elsewhere = false;
  bool old_still_writable_when_promoted = false;
  ASSERT_TRUE(WaitUntil(
      [&] {
        for (int i = 0; i < 3; ++i) {
          int port = cluster.pg_port(i);
          if (port == primary->port) continue;
          auto recovery = cluster.Sql(port, "SELECT pg_is_in_recovery()::text");
          if (recovery && !recovery->empty() && (*recovery)[0] == "false") {
            promoted_elsewhere = true;
            old_still_writable_when_promoted =
                cluster.Sql(primary->port, "INSERT INTO items VALUES (1)").has_value();
            return true;
          }
        }
        return false;
      },
      seconds(60)));
  EXPECT_TRUE(promoted_elsewhere);
  EXPECT_FALSE(old_still_writable_when_promoted)
      << "two writable primaries: the frozen agent's PostgreSQL still accepted a write";
  EXPECT_FALSE(ProcessAlive(primary->postgres_pid))
      << "the fence watchdog should have stopped the frozen agent's PostgreSQL";

  // Thawed, the old agent sees another leader and rejoins as its replica.
  ASSERT_EQ(kill(primary->agent_pid, SIGCONT), 0);
  ASSERT_TRUE(WaitUntil([&] { return cluster.Converged(3); }, seconds(90)))
      << cluster.ListJson().dump(2);
  auto rejoined = cluster.Member(primary->name);
  ASSERT_TRUE(rejoined.has_value());
  EXPECT_EQ(rejoined->role, "replica");
}

TEST(LocalCluster, DownAndUpKeepTheDataAndTheLeader) {
  LocalClusterUnderTest cluster(3, kTtl);
  ExpectUpHealthy(cluster);
  auto primary = cluster.Primary();
  ASSERT_TRUE(primary.has_value());
  std::string system_id = SystemIdentifier(cluster, primary->port);
  std::string error;
  ASSERT_TRUE(cluster.SqlOnPrimary("CREATE TABLE items AS SELECT generate_series(1, 50) AS id", &error))
      << error;
  auto members = cluster.Members();

  CommandResult down = cluster.Down();
  ASSERT_EQ(down.exit_code, 0) << down.output;
  for (const auto& m : members) {
    EXPECT_FALSE(ProcessAlive(m.agent_pid)) << m.name;
    EXPECT_FALSE(ProcessAlive(m.postgres_pid)) << m.name;
  }
  // The clean shutdown released the lease with the final WAL position.
  auto listed = cluster.ListJson();
  ASSERT_TRUE(listed.contains("leader"));
  EXPECT_EQ(listed["leader"].value("released", false), true) << listed.dump(2);

  ExpectUpHealthy(cluster);
  auto again = cluster.Primary();
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(SystemIdentifier(cluster, again->port), system_id) << "up must not initdb again";
  // The member that released the lease takes it back: no promotion, no new timeline.
  EXPECT_EQ(again->name, primary->name);
  EXPECT_EQ(again->timeline, primary->timeline);
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(WaitUntil([&] { return CountRows(cluster, cluster.pg_port(i)) == 50; }, seconds(30)))
        << "member " << i;
  }
}

TEST(LocalCluster, EmptiedDataDirectoryOfAFormerPrimaryIsClonedNotInitialized) {
  LocalClusterUnderTest cluster(3, kTtl);
  ExpectUpHealthy(cluster);
  auto primary = cluster.Primary();
  ASSERT_TRUE(primary.has_value());
  std::string system_id = SystemIdentifier(cluster, primary->port);
  std::string error;
  ASSERT_TRUE(cluster.SqlOnPrimary("CREATE TABLE items AS SELECT generate_series(1, 10) AS id", &error))
      << error;

  // The primary dies and another member takes over.
  auto takeover = cluster.KillAndAwaitTakeover(*primary, "INSERT INTO items VALUES (11)");
  ASSERT_TRUE(takeover.new_primary) << takeover.failure << "\n" << cluster.ListJson().dump(2);
  ASSERT_TRUE(WaitUntil([&] { return !ProcessAlive(primary->postgres_pid); }, seconds(10)));
  const std::optional<MemberView>& new_primary = takeover.new_primary;

  // The former primary's volume comes back empty (the directory stays, as a fresh volume would).
  std::string data = cluster.dir() + "/" + primary->name + "/data";
  for (const auto& entry : std::filesystem::directory_iterator(data)) {
    std::filesystem::remove_all(entry.path());
  }

  CommandResult up = cluster.Up();
  ASSERT_EQ(up.exit_code, 0) << up.output;
  ASSERT_TRUE(WaitUntil([&] { return cluster.Converged(3); }, seconds(60)))
      << cluster.ListJson().dump(2);
  EXPECT_EQ(SystemIdentifier(cluster, primary->port), system_id)
      << "an empty member of an initialized cluster must clone, never initdb";
  EXPECT_TRUE(WaitUntil([&] { return CountRows(cluster, primary->port) == 11; }, seconds(30)));
  auto rejoined = cluster.Member(primary->name);
  ASSERT_TRUE(rejoined.has_value());
  EXPECT_EQ(rejoined->role, "replica");
  auto still_primary = cluster.Primary();
  ASSERT_TRUE(still_primary.has_value());
  EXPECT_EQ(still_primary->name, new_primary->name);
}

TEST(LocalCluster, ExplainsBadInput) {
  TempDir dir("pgpilot-it-bad");
  // An agent config with an unknown key names the key.
  std::string config = dir.path() + "/agent.yaml";
  {
    std::FILE* f = std::fopen(config.c_str(), "w");
    ASSERT_NE(f, nullptr);
    std::fputs(
        "cluster: c\nname: a\ndata_dir: /tmp/x\nttll: 5\nstore:\n  sqlite: /tmp/x.db\n"
        "postgresql:\n  port: 5432\n"
        "  superuser:\n    username: postgres\n    password_file: /tmp/x-su\n"
        "  replication:\n    username: replicator\n    password_file: /tmp/x-repl\n",
        f);
    std::fclose(f);
  }
  CommandResult agent = RunPgpilot({"agent", "--config", config}, 30);
  EXPECT_NE(agent.exit_code, 0);
  EXPECT_NE(agent.output.find("ttll"), std::string::npos) << agent.output;

  // ctl on a directory that holds no cluster says so.
  CommandResult list = RunPgpilot({"ctl", "--dir", dir.path(), "list"}, 30);
  EXPECT_NE(list.exit_code, 0);
  EXPECT_NE(list.output.find(dir.path()), std::string::npos) << list.output;

  // A port already taken is refused before anything starts, with the port in the message.
  LocalClusterUnderTest cluster(3, kTtl);
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(cluster.pg_port(1)));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(listen(fd, 4), 0);
  CommandResult up = cluster.Up(60);
  close(fd);
  EXPECT_NE(up.exit_code, 0);
  EXPECT_NE(up.output.find(std::to_string(cluster.pg_port(1))), std::string::npos) << up.output;
  EXPECT_TRUE(cluster.Members().empty() || cluster.Primary() == std::nullopt)
      << "nothing should have started: " << cluster.ListJson().dump(2);
}

}  // namespace
}  // namespace pgpilot::testing
