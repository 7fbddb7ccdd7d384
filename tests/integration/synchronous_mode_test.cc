// Synchronous mode on real PostgreSQL 15: a writer commits rows one by one while the primary is
// killed (kill -9 of its agent and PostgreSQL) again and again; every row whose COMMIT was
// acknowledged must be on the new primary. (Run with --synchronous-mode off, the same test loses
// a commit in some rounds: the check is not vacuous.)
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <iostream>
#include <mutex>
#include <set>
#include <thread>

#include <gtest/gtest.h>

#include "core/sync_standbys.h"
#include "harness.h"
#include "platform/clock.h"
#include "postgres/pg_connection.h"
#include "store/sqlite_store.h"

namespace pgpilot::testing {
namespace {

using std::chrono::seconds;

constexpr int kTtl = 4;
constexpr int kRounds = 3;

// Commits one row per transaction through the read-write connection string, and remembers the
// ids whose COMMIT PostgreSQL acknowledged.
class Writer {
 public:
  explicit Writer(std::string conninfo) : conninfo_(std::move(conninfo)) {
    thread_ = std::thread([this] { Run(); });
  }
  ~Writer() { Stop(); }
  void Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  std::vector<long> Acknowledged() {
    std::lock_guard lock(mu_);
    return acked_;
  }
  long attempts() const { return attempts_; }

 private:
  void Run() {
    std::optional<PgConnection> conn;
    long next = 1;
    while (!stop_) {
      if (!conn) {
        auto c = PgConnection::Connect(conninfo_);
        if (!c.ok()) {
          std::this_thread::sleep_for(std::chrono::milliseconds(50));
          continue;
        }
        conn.emplace(std::move(c.value()));
      }
      long id = next++;
      ++attempts_;
      auto done = conn->Query("INSERT INTO acked VALUES (" + std::to_string(id) + ")");
      if (done.ok()) {
        std::lock_guard lock(mu_);
        acked_.push_back(id);
      } else {
        conn.reset();  // unknown outcome: not counted as acknowledged
      }
    }
  }

  std::string conninfo_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<long> attempts_{0};
  std::mutex mu_;
  std::vector<long> acked_;
};

std::optional<SyncRecord> LoadSync(LocalClusterUnderTest& cluster) {
  RealClock clock;
  auto store = SqliteStore::Open(cluster.dir() + "/store.db", "local", clock);
  if (!store.ok()) return std::nullopt;
  auto view = (*store)->Load();
  if (!view.ok()) return std::nullopt;
  return view->sync;
}

// The primary waits for a standby that the store's sync record names: a commit it acknowledges
// is on that standby too.
bool Protected(LocalClusterUnderTest& cluster, std::string* standby) {
  auto primary = cluster.Primary();
  if (!primary) return false;
  auto sync = LoadSync(cluster);
  if (!sync || sync->leader != primary->name || sync->members.empty()) return false;
  auto names = cluster.Sql(primary->port, "SHOW synchronous_standby_names");
  if (!names || names->empty()) return false;
  auto waiting = ParseSynchronousStandbyNames((*names)[0]);
  if (!waiting) return false;
  for (const std::string& m : sync->members) {
    if (std::find(waiting->begin(), waiting->end(), m) == waiting->end()) return false;
  }
  *standby = sync->members.front();
  return true;
}

TEST(SynchronousMode, NoAcknowledgedCommitIsLostAcrossRepeatedKills) {
  LocalClusterUnderTest cluster(3, kTtl, "", {"--synchronous-mode", "on"});
  CommandResult up = cluster.Up();
  ASSERT_EQ(up.exit_code, 0) << up.output;
  std::string error;
  ASSERT_TRUE(cluster.SqlOnPrimary("CREATE TABLE acked (id bigint primary key)", &error)) << error;
  std::string conninfo = cluster.ReadWriteConninfo(&error);
  ASSERT_FALSE(conninfo.empty()) << error;
  Writer writer(conninfo);

  for (int round = 1; round <= kRounds; ++round) {
    std::string standby;
    ASSERT_TRUE(WaitUntil([&] { return Protected(cluster, &standby); }, seconds(60)))
        << "round " << round << ": no synchronous standby\n" << cluster.ListJson().dump(2);
    size_t before = writer.Acknowledged().size();
    ASSERT_TRUE(WaitUntil([&] { return writer.Acknowledged().size() >= before + 100; }, seconds(30)))
        << "round " << round << ": the writer is stuck at " << before;

    auto primary = cluster.Primary();
    ASSERT_TRUE(primary.has_value());
    auto takeover = cluster.KillAndAwaitTakeover(*primary, "SELECT 1");
    ASSERT_TRUE(takeover.new_primary) << takeover.failure << "\n" << cluster.ListJson().dump(2);
    EXPECT_EQ(takeover.new_primary->name, standby)
        << "only the synchronous standby may be promoted";

    // Every commit acknowledged so far (the old primary is dead: nothing more comes from it).
    std::vector<long> acked = writer.Acknowledged();
    auto rows = cluster.Sql(takeover.new_primary->port, "SELECT id FROM acked");
    ASSERT_TRUE(rows.has_value());
    std::set<long> present;
    for (const std::string& id : *rows) present.insert(std::stol(id));
    long missing = std::count_if(acked.begin(), acked.end(), [&](long id) { return !present.count(id); });
    EXPECT_EQ(missing, 0) << "round " << round << ": " << missing << " of " << acked.size()
                          << " acknowledged commits are not on " << takeover.new_primary->name;
    std::cout << "[ measured ] round " << round << ": " << acked.size()
              << " acknowledged commits, " << missing << " lost; writable again after "
              << takeover.took.count() << " ms\n";

    // The killed member comes back and rejoins.
    CommandResult again = cluster.Up();
    ASSERT_EQ(again.exit_code, 0) << again.output;
    ASSERT_TRUE(WaitUntil([&] { return cluster.Converged(3); }, seconds(60)))
        << cluster.ListJson().dump(2);
  }
  writer.Stop();
  EXPECT_GT(writer.Acknowledged().size(), static_cast<size_t>(kRounds * 100));
}

}  // namespace
}  // namespace pgpilot::testing

namespace pgpilot::testing {
namespace {

TEST(SynchronousMode, AnOperatorFailsOverToAMemberOutsideTheSetOnlyWhenForced) {
  LocalClusterUnderTest cluster(3, kTtl, "", {"--synchronous-mode", "on"});
  CommandResult up = cluster.Up();
  ASSERT_EQ(up.exit_code, 0) << up.output;
  std::string standby;
  ASSERT_TRUE(WaitUntil([&] { return Protected(cluster, &standby); }, seconds(60))) << cluster.ListJson().dump(2);
  auto primary = cluster.Primary();
  ASSERT_TRUE(primary.has_value());
  std::string outsider;
  for (const auto& m : cluster.Members()) {
    if (m.name != primary->name && m.name != standby) outsider = m.name;
  }
  auto sync_member = cluster.Member(standby);
  ASSERT_TRUE(sync_member.has_value());
  // The primary and its synchronous standby die: the third member may not take over by itself.
  for (const MemberView& m : {*primary, *sync_member}) {
    ASSERT_EQ(kill(m.agent_pid, SIGKILL), 0);
    ASSERT_EQ(kill(m.postgres_pid, SIGKILL), 0);
  }
  std::this_thread::sleep_for(seconds(3 * kTtl));
  EXPECT_FALSE(cluster.Primary().has_value()) << cluster.ListJson().dump(2);
  auto reason = cluster.Member(outsider);
  ASSERT_TRUE(reason.has_value());

  CommandResult refused = cluster.Ctl({"failover", "--to", outsider, "--yes"});
  EXPECT_EQ(refused.exit_code, 1) << refused.output;
  EXPECT_NE(refused.output.find("synchronous set"), std::string::npos) << refused.output;
  EXPECT_NE(refused.output.find("--force"), std::string::npos) << refused.output;

  CommandResult forced =
      cluster.Ctl({"failover", "--to", outsider, "--force", "--yes"}, 90);
  ASSERT_EQ(forced.exit_code, 0) << forced.output << "\n" << cluster.ListJson().dump(2);
  EXPECT_NE(forced.output.find(outsider + " is the primary"), std::string::npos) << forced.output;
  std::string error;
  EXPECT_TRUE(cluster.SqlOnPrimary("CREATE TABLE after_forced_failover (id int)", &error)) << error;
}

}  // namespace
}  // namespace pgpilot::testing
