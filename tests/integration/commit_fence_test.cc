// The commit fence's client against real PostgreSQL: with synchronous_standby_names naming the
// fence, a commit is acknowledged only while the fence may confirm (a lease deadline in the
// future); without confirmations it waits, and it completes as soon as they resume.
#include <libpq-fe.h>
#include <poll.h>

#include <chrono>
#include <thread>

#include <gtest/gtest.h>

#include "harness.h"
#include "platform/clock.h"
#include "postgres/commit_fence.h"

namespace pgpilot::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

// An INSERT sent without waiting; Done() polls for its answer.
class PendingCommit {
 public:
  PendingCommit(const std::string& conninfo, int value) : conn_(PQconnectdb(conninfo.c_str())) {
    ok_ = PQstatus(conn_) == CONNECTION_OK &&
          PQsendQuery(conn_, ("INSERT INTO fenced VALUES (" + std::to_string(value) + ")").c_str()) == 1;
  }
  ~PendingCommit() { PQfinish(conn_); }
  bool sent() const { return ok_; }
  std::string error() const { return PQerrorMessage(conn_); }
  // True once the server answered (the commit was acknowledged), within `within`.
  bool DoneWithin(milliseconds within) {
    auto deadline = std::chrono::steady_clock::now() + within;
    while (std::chrono::steady_clock::now() < deadline) {
      pollfd pfd{PQsocket(conn_), POLLIN, 0};
      poll(&pfd, 1, 20);
      PQconsumeInput(conn_);
      if (!PQisBusy(conn_)) {
        while (PGresult* r = PQgetResult(conn_)) {
          committed_ = committed_ || PQresultStatus(r) == PGRES_COMMAND_OK;
          PQclear(r);
        }
        return committed_;
      }
    }
    return false;
  }

 private:
  PGconn* conn_;
  bool ok_ = false;
  bool committed_ = false;
};

TEST(CommitFence, CommitsWaitForTheFenceAndItConfirmsOnlyBeforeTheLeaseDeadline) {
  // The agent's own fence is off: this test drives a fence client of its own.
  LocalClusterUnderTest cluster(1, 10, "", {"--commit-fence", "false"});
  CommandResult up = cluster.Up();
  ASSERT_EQ(up.exit_code, 0) << up.output;
  std::string error;
  std::string rw = cluster.ReadWriteConninfo(&error);
  ASSERT_FALSE(rw.empty()) << error;
  ASSERT_TRUE(cluster.SqlOnPrimary("CREATE TABLE fenced (x int)", &error)) << error;
  ASSERT_TRUE(cluster.SqlOnPrimary("ALTER SYSTEM SET synchronous_standby_names = '\"" +
                                   std::string(kCommitFenceName) + "\"'", &error)) << error;
  ASSERT_TRUE(cluster.SqlOnPrimary("SELECT pg_reload_conf()", &error)) << error;
  std::this_thread::sleep_for(milliseconds(300));

  // No fence: the commit waits.
  PendingCommit first(rw, 1);
  ASSERT_TRUE(first.sent()) << first.error();
  EXPECT_FALSE(first.DoneWithin(milliseconds(1500))) << "acknowledged without the fence";

  // The fence, allowed to confirm: the waiting commit is acknowledged.
  RealClock clock;
  CommitFence fence(clock);
  fence.ConfirmUntil(clock.Now() + seconds(60));
  fence.Target("host=127.0.0.1 port=" + std::to_string(cluster.pg_port(0)) +
               " user=replicator passfile=" + cluster.dir() + "/pg-0/pgpass");
  EXPECT_TRUE(first.DoneWithin(milliseconds(10000))) << fence.Status().error;
  EXPECT_TRUE(fence.Status().connected) << fence.Status().error;
  PendingCommit quick(rw, 2);
  EXPECT_TRUE(quick.DoneWithin(milliseconds(2000)));

  // The lease deadline passed: nothing more is confirmed, commits wait...
  fence.ConfirmUntil(clock.Now());
  PendingCommit fenced(rw, 3);
  ASSERT_TRUE(fenced.sent());
  EXPECT_FALSE(fenced.DoneWithin(milliseconds(1500))) << "acknowledged after the lease deadline";
  // ... until a renewal moves the deadline again.
  fence.ConfirmUntil(clock.Now() + seconds(60));
  EXPECT_TRUE(fenced.DoneWithin(milliseconds(5000)));

  fence.Target("");
  ASSERT_TRUE(cluster.SqlOnPrimary("ALTER SYSTEM RESET synchronous_standby_names", &error)) << error;
  ASSERT_TRUE(cluster.SqlOnPrimary("SELECT pg_reload_conf()", &error)) << error;

  // A role whose commits skip the wait is outside the promise: `ctl list` says so.
  ASSERT_TRUE(cluster.SqlOnPrimary("CREATE ROLE app", &error)) << error;
  ASSERT_TRUE(cluster.SqlOnPrimary("ALTER ROLE app SET synchronous_commit = off", &error)) << error;
  EXPECT_TRUE(WaitUntil([&] {
    return cluster.Ctl({"list"}).output.find("warning: app in every database: synchronous_commit=off") !=
           std::string::npos;
  }, seconds(20))) << cluster.Ctl({"list"}).output;
}

}  // namespace
}  // namespace pgpilot::testing
