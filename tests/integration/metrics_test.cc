// GET /metrics of real agents on real PostgreSQL 15, and the agent's --log-format json:
// - every agent of a 3-node cluster serves text that passes the strict reader of
//   prometheus_text.h (and `promtool check metrics`, when promtool is on the PATH), with values
//   that agree with `ctl list`; counters only grow; a switchover and a failover are counted by
//   cause on the member that promoted;
// - an agent started with --log-format json over a config saying text writes JSON lines, and
//   its decision lines carry cluster, member, from, state and reason as keys.
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "api/metrics.h"
#include "api/peer_client.h"
#include "harness.h"
#include "test_files.h"
#include "platform/http_lib.h"
#include "platform/process.h"
#include "platform/users.h"
#include "prometheus_text.h"

namespace pgpilot::testing {
namespace {

using std::chrono::seconds;

constexpr int kTtl = 4;

struct Scrape {
  int status = 0;
  std::string content_type;
  std::string body;
  PromExposition parsed;
};

Scrape ScrapeMetrics(int api_port) {
  Scrape s;
  httplib::Client client("127.0.0.1", api_port);
  client.set_connection_timeout(2, 0);
  client.set_read_timeout(2, 0);
  auto res = client.Get("/metrics");
  if (!res) return s;
  s.status = res->status;
  s.content_type = res->get_header_value("Content-Type");
  s.body = res->body;
  s.parsed = ParsePrometheusText(s.body);
  return s;
}

// The member's API port, from its PostgreSQL port (`pgpilot up`: P+i and P+100+i).
int ApiPort(const MemberView& m) { return m.port + 100; }

double ValueOr(const PromExposition& e, const std::string& name,
               const std::map<std::string, std::string>& labels, double missing = -1) {
  return e.Value(name, labels).value_or(missing);
}

// `promtool check metrics` on `text`, when promtool is installed: "" when it passes or is absent.
std::string PromtoolComplaint(const std::string& text, const std::string& dir) {
  if (std::system("command -v promtool >/dev/null 2>&1") != 0) return "";
  std::string file = dir + "/scrape.txt";
  std::ofstream(file) << text;
  auto run = Runner().Run({{"/bin/sh", "-c", "promtool check metrics < " + file}, {}}, Duration(30000));
  if (!run.ok()) return run.error().ToString();
  return run->status.code == 0 ? "" : "promtool check metrics failed:\n" + run->output;
}

TEST(Metrics, EveryAgentOfARunningClusterServesValidMetricsThatAgreeWithCtl) {
  LocalClusterUnderTest cluster(3, kTtl);
  CommandResult up = cluster.Up();
  ASSERT_EQ(up.exit_code, 0) << up.output;
  ASSERT_TRUE(cluster.Converged(3)) << cluster.ListJson().dump(2);
  auto primary = cluster.Primary();
  ASSERT_TRUE(primary.has_value());

  // Every replica has published itself streaming; give the primary's view a loop to load that.
  std::map<std::string, Scrape> first;
  ASSERT_TRUE(WaitUntil([&] {
    Scrape s = ScrapeMetrics(ApiPort(*primary));
    return s.parsed.ok() && s.parsed.Find("pgpilot_replication_lag_bytes").size() == 2;
  }, seconds(20))) << ScrapeMetrics(ApiPort(*primary)).body;

  for (const MemberView& m : cluster.Members()) {
    Scrape s = ScrapeMetrics(ApiPort(m));
    ASSERT_EQ(s.status, 200) << m.name;
    EXPECT_EQ(s.content_type, kMetricsContentType) << m.name;
    ASSERT_TRUE(s.parsed.ok()) << m.name << ": " << s.parsed.error << "\n" << s.body;
    EXPECT_EQ(PromtoolComplaint(s.body, cluster.dir()), "") << s.body;
    const PromExposition& e = s.parsed;
    std::map<std::string, std::string> own = {{"cluster", "local"}, {"member", m.name}};
    for (const PromSample& sample : e.samples) {
      EXPECT_EQ(sample.labels.at("member"), m.name) << sample.name;
      EXPECT_EQ(sample.labels.at("cluster"), "local") << sample.name;
    }
    bool is_primary = m.name == primary->name;
    EXPECT_EQ(ValueOr(e, "pgpilot_role", {{"role", m.role}}), 1) << m.name;
    EXPECT_EQ(ValueOr(e, "pgpilot_state", {{"state", m.state}}), 1) << m.name;
    EXPECT_EQ(ValueOr(e, "pgpilot_leader", own), is_primary ? 1 : 0) << m.name;
    EXPECT_EQ(ValueOr(e, "pgpilot_postgres_up", own), 1) << m.name;
    EXPECT_EQ(ValueOr(e, "pgpilot_store_reachable", own), 1) << m.name;
    EXPECT_EQ(ValueOr(e, "pgpilot_timeline", own), m.timeline) << m.name;
    EXPECT_EQ(ValueOr(e, "pgpilot_lease_ttl_seconds", own), kTtl) << m.name;
    EXPECT_GT(ValueOr(e, "pgpilot_loops_total", own), 0) << m.name;
    EXPECT_LT(ValueOr(e, "pgpilot_last_loop_age_seconds", own, 1e9), 3) << m.name;
    EXPECT_EQ(ValueOr(e, "pgpilot_lease_renew_failures_total", own), 0) << m.name;
    EXPECT_EQ(ValueOr(e, "pgpilot_cluster_timeline_switches", own), 0) << "a fresh cluster";
    EXPECT_EQ(ValueOr(e, "pgpilot_promotions_total", {{"cause", "failover"}}), 0) << m.name;
    EXPECT_EQ(ValueOr(e, "pgpilot_promotions_total", {{"cause", "switchover"}}), 0) << m.name;
    if (is_primary) {
      EXPECT_GT(ValueOr(e, "pgpilot_wal_write_position_bytes", own), 0);
      EXPECT_GT(ValueOr(e, "pgpilot_lease_renew_duration_seconds_count", own), 0) << "it renews every loop";
      EXPECT_GE(ValueOr(e, "pgpilot_lease_renew_last_duration_seconds", own), 0);
      for (const MemberView& other : cluster.Members()) {
        if (other.name == m.name) continue;
        EXPECT_GE(ValueOr(e, "pgpilot_replication_lag_bytes", {{"replica", other.name}}), 0) << other.name;
      }
    } else {
      EXPECT_GT(ValueOr(e, "pgpilot_wal_receive_position_bytes", own), 0) << m.name;
      EXPECT_GT(ValueOr(e, "pgpilot_wal_replay_position_bytes", own), 0) << m.name;
      EXPECT_TRUE(e.Find("pgpilot_wal_write_position_bytes").empty()) << m.name;
      EXPECT_EQ(ValueOr(e, "pgpilot_lease_renew_duration_seconds_count", own), 0) << m.name;
    }
    first[m.name] = s;
  }

  // Counters only grow; the loop and the primary's renewals go on.
  std::this_thread::sleep_for(seconds(2));
  for (const auto& [name, before] : first) {
    auto member = cluster.Member(name);
    ASSERT_TRUE(member.has_value());
    Scrape after = ScrapeMetrics(ApiPort(*member));
    ASSERT_TRUE(after.parsed.ok()) << after.parsed.error;
    for (const PromSample& sample : before.parsed.samples) {
      if (before.parsed.types.at(sample.family) != "counter" && !sample.name.ends_with("_count") &&
          !sample.name.ends_with("_bucket")) {
        continue;
      }
      auto now = after.parsed.Value(sample.name, sample.labels);
      ASSERT_TRUE(now.has_value()) << name << " " << sample.name;
      EXPECT_GE(*now, sample.value) << name << " " << sample.name;
    }
    EXPECT_GT(ValueOr(after.parsed, "pgpilot_loops_total", {}), ValueOr(before.parsed, "pgpilot_loops_total", {}))
        << name;
    if (name == primary->name) {
      EXPECT_GT(ValueOr(after.parsed, "pgpilot_lease_renew_duration_seconds_count", {}),
                ValueOr(before.parsed, "pgpilot_lease_renew_duration_seconds_count", {}));
    }
  }

  // A switchover is counted as one on the member that promoted.
  std::string target;
  for (const MemberView& m : cluster.Members()) {
    if (m.name != primary->name) target = m.name;
  }
  CommandResult r = cluster.Ctl({"switchover", "--to", target}, 90);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  ASSERT_TRUE(WaitUntil([&] { return cluster.Converged(3); }, seconds(60))) << cluster.ListJson().dump(2);
  auto promoted = cluster.Member(target);
  ASSERT_TRUE(promoted.has_value());
  ASSERT_EQ(promoted->role, "primary");
  Scrape after_switchover = ScrapeMetrics(ApiPort(*promoted));
  ASSERT_TRUE(after_switchover.parsed.ok()) << after_switchover.parsed.error;
  EXPECT_EQ(ValueOr(after_switchover.parsed, "pgpilot_promotions_total", {{"cause", "switchover"}}), 1)
      << after_switchover.body;
  EXPECT_EQ(ValueOr(after_switchover.parsed, "pgpilot_promotions_total", {{"cause", "failover"}}), 0);
  EXPECT_EQ(ValueOr(after_switchover.parsed, "pgpilot_leader", {}), 1);
  EXPECT_TRUE(WaitUntil([&] {
    return ValueOr(ScrapeMetrics(ApiPort(*promoted)).parsed, "pgpilot_cluster_timeline_switches", {}) == 1;
  }, seconds(10)));

  // A failover (the primary killed) is counted as one on the member that promoted.
  auto takeover = cluster.KillAndAwaitTakeover(*promoted, "SELECT 1");
  ASSERT_TRUE(takeover.new_primary.has_value()) << takeover.failure;
  Scrape after_failover = ScrapeMetrics(ApiPort(*takeover.new_primary));
  ASSERT_TRUE(after_failover.parsed.ok()) << after_failover.parsed.error;
  EXPECT_EQ(ValueOr(after_failover.parsed, "pgpilot_promotions_total", {{"cause", "failover"}}), 1)
      << after_failover.body;
  EXPECT_EQ(ValueOr(after_failover.parsed, "pgpilot_promotions_total", {{"cause", "switchover"}}), 0);
  EXPECT_EQ(ValueOr(after_failover.parsed, "pgpilot_role", {{"role", "primary"}}), 1);
}



TEST(StructuredLog, LogFormatFlagOverridesTheConfigAndDecisionLinesCarryTheirFields) {
  TempDir dir("pgpilot-it-log");
  std::string member = dir.path() + "/m";
  std::filesystem::create_directories(member);
  WriteTestFile(dir.path() + "/su", "su-secret-1\n", 0600);
  WriteTestFile(dir.path() + "/repl", "repl-secret-1\n", 0600);
  int base = PickBasePort(1);
  ASSERT_NE(base, 0);
  int api_port = base + 100;
  std::string config = dir.path() + "/agent.yaml";
  WriteTestFile(config,
            "cluster: shop\nname: a\ndata_dir: " + member + "/data\nstore:\n  sqlite: " + member +
                "/store.db\napi:\n  listen: 127.0.0.1:" + std::to_string(api_port) +
                "\npostgresql:\n  port: " + std::to_string(base) +
                "\n  superuser:\n    username: postgres\n    password_file: " + dir.path() +
                "/su\n  replication:\n    username: replicator\n    password_file: " + dir.path() +
                "/repl\nlog:\n  format: text\n",
            0644);
  GiveToPostgresUser(dir.path());

  std::string log_path = dir.path() + "/agent.log";
  ProcessRunner& runner = Runner();
  auto pid = runner.Spawn({{PGPILOT_BINARY, "agent", "--config", config, "--log-format", "json"},
                           {}, log_path, dir.path(), -1});
  ASSERT_TRUE(pid.ok()) << pid.error().ToString();
  bool primary = WaitUntil(
      [&] {
        auto reply = HttpGet("http://127.0.0.1:" + std::to_string(api_port), "/status", Duration(1000));
        if (!reply.ok()) return false;
        auto status = nlohmann::json::parse(reply->body, nullptr, false);
        return !status.is_discarded() && status.value("state", "") == "primary";
      },
      seconds(90));
  Scrape scrape = ScrapeMetrics(api_port);
  kill(*pid, SIGTERM);
  auto exit = runner.Wait(*pid, Duration(60000));
  ASSERT_TRUE(exit.has_value());

  std::ifstream in(log_path);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ASSERT_TRUE(primary) << text;
  ASSERT_TRUE(scrape.parsed.ok()) << scrape.parsed.error << "\n" << scrape.body;
  EXPECT_EQ(scrape.parsed.Value("pgpilot_role", {{"cluster", "shop"}, {"member", "a"}, {"role", "primary"}}), 1);
  EXPECT_EQ(scrape.parsed.Value("pgpilot_leader"), 1);

  std::istringstream lines(text);
  int json_lines = 0;
  std::vector<nlohmann::json> decisions;
  for (std::string line; std::getline(lines, line);) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    ASSERT_FALSE(j.is_discarded()) << "not a JSON line: " << line;
    ++json_lines;
    EXPECT_EQ(j.value("cluster", ""), "shop") << line;
    EXPECT_EQ(j.value("member", ""), "a") << line;
    EXPECT_TRUE(j.contains("time") && j.contains("level") && j.contains("msg")) << line;
    if (j.value("msg", "").rfind("decision ", 0) == 0) decisions.push_back(j);
  }
  EXPECT_GT(json_lines, 2);
  ASSERT_FALSE(decisions.empty()) << text;
  bool reached_primary = false;
  for (const auto& d : decisions) {
    for (const char* key : {"from", "state", "reason", "actions"}) {
      EXPECT_TRUE(d.contains(key) && d[key].is_string()) << key << " in " << d.dump();
    }
    std::string from = d.value("from", ""), state = d.value("state", "");
    EXPECT_NE(d.value("msg", "").find(from + "->" + state), std::string::npos) << d.dump();
    EXPECT_NE(d.value("msg", "").find(d.value("reason", "")), std::string::npos) << d.dump();
    reached_primary |= state == "primary";
  }
  EXPECT_TRUE(reached_primary) << text;
  EXPECT_EQ(decisions.front().value("from", ""), "init") << text;
  EXPECT_EQ(text.find("su-secret-1"), std::string::npos);
}

}  // namespace
}  // namespace pgpilot::testing
