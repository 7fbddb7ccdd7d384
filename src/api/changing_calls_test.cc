// The changing calls against a real (SQLite) store: what each writes, and the status code and
// refusal of every kind of bad request. Authentication is api_auth_test.cc's.
#include "api/changing_calls.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "agent/operations.h"
#include "store/open_store.h"
#include "support/sample_member.h"
#include "support/temp_dir.h"

namespace pgpilot {
namespace {

using ::testing::HasSubstr;
using nlohmann::json;

MemberStatus Member(const std::string& name, const std::string& role, uint64_t lsn) {
  MemberStatus m = testing::SampleMember(name, lsn);
  m.role = role;
  m.state = role;
  m.tags.nofailover = false;
  m.upstream = role == "replica" ? "pg-0" : "";
  m.streaming = role == "replica";
  return m;
}

// A three-member cluster in a SQLite store: pg-0 leads, pg-1 and pg-2 stream from it. The handler
// opens its own connection, as the agent's does.
class ChangingCallsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    config_.sqlite_path = dir_.path() + "/store.db";
    auto store = OpenStore(config_, "orders", clock_);
    ASSERT_TRUE(store.ok()) << store.error().ToString();
    store_ = std::move(*store);
    auto lease = store_->AcquireLeader(LeaseRequest{"pg-0", Duration(30000), Lsn{0x3000148}, 1}, std::nullopt);
    ASSERT_TRUE(lease.ok() && lease->granted);
    Put(Member("pg-0", "primary", 0x3000148));
    Put(Member("pg-1", "replica", 0x3000148));
    Put(Member("pg-2", "replica", 0x3000100));
    handler_ = std::make_unique<ChangingCallHandler>(
        [this] {
          ++opened_;
          return OpenStore(config_, "orders", clock_);
        },
        clock_, 1024 * 1024);
  }
  void Put(const MemberStatus& m) { ASSERT_TRUE(store_->PutMember(m, Duration(60000)).ok()); }
  ClusterView View() {
    auto view = store_->Load();
    EXPECT_TRUE(view.ok());
    return view.ok() ? *view : ClusterView{};
  }
  // Calls and parses the answer, which must be a JSON object with "ok" matching the status.
  json Call(const std::string& method, const std::string& path, const std::string& body, int expected_status) {
    ApiAnswer answer = handler_->Handle(method, path, body);
    EXPECT_EQ(answer.status, expected_status) << method << " " << path << " " << body << ": " << answer.body;
    json j = json::parse(answer.body, nullptr, false);
    EXPECT_TRUE(j.is_object()) << answer.body;
    if (!j.is_object()) return json::object();
    EXPECT_EQ(j.value("ok", !(answer.status < 300)), answer.status < 300) << answer.body;
    EXPECT_FALSE(answer.summary.empty());
    if (answer.status >= 300) {
      EXPECT_FALSE(j.value("error", "").empty()) << answer.body;
      EXPECT_TRUE(j.contains("hint")) << answer.body;
    }
    return j;
  }

  testing::ScratchDir dir_{"pgpilot-changing-calls-test"};
  RealClock clock_;
  StoreConfig config_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<ChangingCallHandler> handler_;
  int opened_ = 0;
};

TEST_F(ChangingCallsTest, SwitchoverWritesTheRequestToTheBestReplicaAndAnswers202) {
  json j = Call("POST", "/switchover", "", 202);
  EXPECT_EQ(j["switchover"]["from"], "pg-0");
  EXPECT_EQ(j["switchover"]["to"], "pg-1") << "the most advanced replica";
  EXPECT_EQ(j["scheduled"], false);
  ClusterView view = View();
  ASSERT_TRUE(view.switchover);
  EXPECT_EQ(view.switchover->from, "pg-0");
  EXPECT_EQ(view.switchover->to, "pg-1");
  // A second one while it is pending is refused by the cluster's state.
  json again = Call("POST", "/switchover", R"({"to": "pg-2"})", 409);
  EXPECT_THAT(again["error"].get<std::string>(), HasSubstr("already pending"));
  // DELETE drops it.
  json dropped = Call("DELETE", "/switchover", "", 200);
  EXPECT_EQ(dropped["cancelled"]["to"], "pg-1");
  EXPECT_FALSE(View().switchover);
  EXPECT_TRUE(Call("DELETE", "/switchover", "", 200)["cancelled"].is_null());
  EXPECT_EQ(opened_, 1) << "one store connection, kept";
}

TEST_F(ChangingCallsTest, SwitchoverToANamedMemberAtATime) {
  json j = Call("POST", "/switchover", R"({"to": "pg-2", "at": "2099-01-01T00:00:00Z", "force": true})", 202);
  EXPECT_EQ(j["scheduled"], true);
  ClusterView view = View();
  ASSERT_TRUE(view.switchover);
  EXPECT_EQ(view.switchover->to, "pg-2");
  EXPECT_EQ(view.switchover->not_before, *ParseWallTime("2099-01-01T00:00:00Z"));
}

TEST_F(ChangingCallsTest, BadBodiesAre400AndWriteNothing) {
  Call("POST", "/switchover", "not json", 400);
  Call("POST", "/switchover", "[1]", 400);
  json unknown = Call("POST", "/switchover", R"({"target": "pg-1"})", 400);
  EXPECT_THAT(unknown["error"].get<std::string>(), HasSubstr("unknown key 'target'"));
  EXPECT_THAT(unknown["hint"].get<std::string>(), HasSubstr("to"));
  Call("POST", "/switchover", R"({"to": 1})", 400);
  Call("POST", "/switchover", R"({"force": "yes"})", 400);
  Call("POST", "/switchover", R"({"at": "tomorrow"})", 400);
  Call("POST", "/switchover", R"({"to": "pg-9"})", 400);
  Call("POST", "/failover", "{}", 400);
  Call("POST", "/reinit", "{}", 400);
  Call("POST", "/restart", R"({"member": "pg-9"})", 400);
  Call("POST", "/pause", R"({"really": true})", 400);
  Call("PATCH", "/config", R"({"synchronous_mode": "sometimes"})", 400);
  Call("PATCH", "/config", R"({"no_such_setting": 1})", 400);
  Call("PATCH", "/config", R"({"postgresql.parameters.port": "5999"})", 400);
  Call("PATCH", "/config", R"({"pause": [true]})", 400);
  Call("PATCH", "/config", "", 400);
  ClusterView view = View();
  EXPECT_FALSE(view.switchover);
  EXPECT_FALSE(view.config);
  EXPECT_FALSE(view.requests);
}

TEST_F(ChangingCallsTest, FailoverIsRefusedWhileThePrimaryIsHealthy) {
  json j = Call("POST", "/failover", R"({"to": "pg-1"})", 409);
  EXPECT_THAT(j["error"].get<std::string>(), HasSubstr("has a primary"));
  // Once the primary is gone (its entry says so), the request is written.
  Put(Member("pg-0", "stopped", 0x3000148));
  json ok = Call("POST", "/failover", R"({"to": "pg-1", "force": true})", 202);
  EXPECT_EQ(ok["switchover"]["to"], "pg-1");
  ClusterView view = View();
  ASSERT_TRUE(view.switchover);
  EXPECT_EQ(view.switchover->from, "");
  EXPECT_TRUE(view.switchover->force);
}

TEST_F(ChangingCallsTest, RestartAndReinitWriteRequestsWithTheProcessTheyReplace) {
  json restart = Call("POST", "/restart", R"({"member": "pg-1"})", 202);
  ASSERT_EQ(restart["requests"].size(), 1u);
  EXPECT_EQ(restart["requests"][0]["member"], "pg-1");
  EXPECT_EQ(restart["requests"][0]["postgres_pid"], 456);
  EXPECT_GT(restart["requests"][0]["requested_ms"].get<int64_t>(), 0) << "ctl tells its request from an older one";
  json all = Call("POST", "/restart", "", 202);
  EXPECT_EQ(all["requests"].size(), 3u) << "no member: every member";
  json none = Call("POST", "/restart", R"({"pending": true})", 200);
  EXPECT_TRUE(none["requests"].empty()) << "nobody has a restart pending: nothing to do";
  json reinit = Call("POST", "/reinit", R"({"member": "pg-2"})", 202);
  EXPECT_EQ(reinit["requests"][0]["kind"], "reinit");
  ClusterView view = View();
  ASSERT_TRUE(view.requests);
  ASSERT_NE(view.requests->For("pg-2"), nullptr);
  EXPECT_EQ(view.requests->For("pg-2")->kind, RequestKind::kReinit);
  EXPECT_EQ(view.requests->For("pg-1")->kind, RequestKind::kRestart);
  json leader = Call("POST", "/reinit", R"({"member": "pg-0"})", 409);
  EXPECT_THAT(leader["error"].get<std::string>(), HasSubstr("is the leader"));
}

TEST_F(ChangingCallsTest, PauseResumeAndConfigChangeTheClusterWideSettings) {
  json paused = Call("POST", "/pause", "", 200);
  EXPECT_EQ(paused["config"]["pause"], true);
  EXPECT_TRUE(View().config->pause);
  // Paused: a switchover is refused by the cluster's state.
  Call("POST", "/switchover", "", 409);
  Call("POST", "/resume", "{}", 200);
  EXPECT_FALSE(View().config->pause);
  json changed = Call("PATCH", "/config",
                      R"({"synchronous_mode": "on", "ttl": 20, "loop_wait": 2.5,
                          "postgresql": {"parameters": {"work_mem": "64MB"}}})",
                      200);
  DynamicConfig config = *View().config;
  EXPECT_EQ(config.synchronous_mode, SyncMode::kOn);
  EXPECT_EQ(config.ttl, Duration(20000));
  EXPECT_EQ(config.loop_wait, Duration(2500));
  ASSERT_EQ(config.parameters.size(), 1u);
  EXPECT_EQ(config.parameters[0], std::make_pair(std::string("work_mem"), std::string("64MB")));
  Call("PATCH", "/config", R"({"postgresql.parameters.work_mem": null, "ttl": null})", 200);
  config = *View().config;
  EXPECT_TRUE(config.parameters.empty()) << "null unsets";
  EXPECT_FALSE(config.ttl);
  json wrong_together = Call("PATCH", "/config", R"({"ttl": 4, "loop_wait": 3})", 400);
  EXPECT_THAT(wrong_together["error"].get<std::string>(), HasSubstr("loop_wait"));
}

TEST_F(ChangingCallsTest, AStoreThatCannotBeOpenedIs503AndIsTriedAgainNextTime) {
  int attempts = 0;
  ChangingCallHandler broken(
      [&attempts]() -> Result<std::unique_ptr<Store>> {
        ++attempts;
        return Unavailable("etcd is down", "start etcd");
      },
      clock_, 0);
  for (int i = 0; i < 2; ++i) {
    ApiAnswer answer = broken.Handle("POST", "/pause", "");
    EXPECT_EQ(answer.status, 503);
    EXPECT_THAT(answer.body, HasSubstr("etcd is down"));
  }
  EXPECT_EQ(attempts, 2);
}

// A replica that seems behind only because it published before the primary's last position (a
// WAL segment switch between two loops) is not refused: the request waits for fresh positions.
TEST_F(ChangingCallsTest, SwitchoverWaitsForFreshPositionsBeforeRefusingForLag) {
  Put(Member("pg-2", "replica", 0x2000000));  // 16 MB behind pg-0's published position
  std::thread publisher([this] {
    std::this_thread::sleep_for(std::chrono::milliseconds(700));
    Put(Member("pg-2", "replica", 0x3000148));  // its next loop: caught up
  });
  auto start = std::chrono::steady_clock::now();
  auto written = RequestSwitchover(*store_, SwitchoverParams{"pg-2", std::nullopt, false, 1024 * 1024},
                                   clock_.WallNow());
  auto waited = std::chrono::steady_clock::now() - start;
  publisher.join();
  ASSERT_TRUE(written.ok()) << written.error().ToString();
  EXPECT_EQ(written->to, "pg-2");
  EXPECT_GE(waited, std::chrono::milliseconds(600));
}

TEST_F(ChangingCallsTest, SwitchoverToAReplicaThatStaysBehindIsRefusedForLag) {
  Put(Member("pg-2", "replica", 0x2000000));
  auto start = std::chrono::steady_clock::now();
  auto written = RequestSwitchover(*store_, SwitchoverParams{"pg-2", std::nullopt, false, 1024 * 1024},
                                   clock_.WallNow());
  auto waited = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(written.ok());
  EXPECT_THAT(written.error().message, HasSubstr("bytes behind pg-0"));
  EXPECT_GE(waited, std::chrono::seconds(2));  // it waited for fresh positions first
  EXPECT_FALSE(View().switchover.has_value());
  // --force does not wait, and hands over anyway.
  auto forced = RequestSwitchover(*store_, SwitchoverParams{"pg-2", std::nullopt, true, 1024 * 1024},
                                  clock_.WallNow());
  EXPECT_TRUE(forced.ok());
}

TEST(HttpStatusFor, EachKindOfErrorHasItsCode) {
  EXPECT_EQ(HttpStatusFor(InvalidArgument("x")), 400);
  EXPECT_EQ(HttpStatusFor(NotFound("x")), 400);
  EXPECT_EQ(HttpStatusFor(FailedPrecondition("x")), 409);
  EXPECT_EQ(HttpStatusFor(Unavailable("x")), 503);
  EXPECT_EQ(HttpStatusFor(PermissionDenied("x")), 403);
  EXPECT_EQ(HttpStatusFor(Internal("x")), 500);
}

}  // namespace
}  // namespace pgpilot
