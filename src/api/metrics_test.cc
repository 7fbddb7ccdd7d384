// /metrics: the text a primary's and a replica's snapshot render passes a strict reader of the
// exposition format, carries the values of the snapshot, and every family is documented.
#include "api/metrics.h"

#include <gtest/gtest.h>

#include <fstream>
#include <set>
#include <sstream>
#include <string>

#include "integration/prometheus_text.h"

namespace pgpilot {
namespace {

using std::chrono::milliseconds;
using testing::ParsePrometheusText;
using testing::PromExposition;

constexpr MonoTime kNow{std::chrono::seconds(1000)};

MemberStatus Member(std::string name, std::string role, std::string state, uint64_t wal) {
  MemberStatus m;
  m.name = std::move(name);
  m.role = std::move(role);
  m.state = std::move(state);
  m.timeline = 3;
  m.wal_position = Lsn{wal};
  m.replayed = Lsn{wal};
  return m;
}

// pg-0, the primary, holding the lease, with a renewal history and two promotions behind it.
AgentSnapshot PrimarySnapshot() {
  AgentSnapshot s;
  s.cluster_name = "shop";
  s.member = Member("pg-0", "primary", "primary", 50'331'744);
  s.holds_lease = true;
  s.store_reachable = true;
  ClusterView v;
  v.leader = LeaderRecord{"pg-0", 7, milliseconds(10000), Lsn{50'331'744}, 3, false, 12};
  v.members = {Member("pg-0", "primary", "primary", 50'331'744),
               Member("pg-1", "replica", "replica", 50'330'744),
               Member("pg-2", "replica", "replica", 45'331'744),
               Member("pg-3", "stopped", "stopped", 40'000'000)};
  v.history = {HistoryEntry{2, Lsn{1000}}, HistoryEntry{3, Lsn{2000}}};
  s.cluster = v;
  s.last_loop = kNow - milliseconds(1500);
  s.ttl = milliseconds(10000);
  s.counters.loops = 42;
  s.counters.decisions_failed = 1;
  s.counters.RecordLeaseRenewal(std::chrono::milliseconds(3), true);
  s.counters.RecordLeaseRenewal(std::chrono::milliseconds(30), true);
  s.counters.RecordLeaseRenewal(std::chrono::milliseconds(2000), false);
  s.counters.RecordPromotion(PromotionCause::kFailover);
  s.counters.RecordPromotion(PromotionCause::kSwitchover);
  s.counters.RecordPromotion(PromotionCause::kSwitchover);
  return s;
}

// pg-1, a replica that has never held the lease, whose last store read failed.
AgentSnapshot ReplicaSnapshot() {
  AgentSnapshot s;
  s.cluster_name = "shop";
  s.member = Member("pg-1", "replica", "replica", 7000);
  s.member.replayed = Lsn{6500};
  s.member.timeline = 4;
  s.store_reachable = false;
  s.store_error = "unavailable: connection refused";
  s.last_loop = kNow - milliseconds(250);
  s.ttl = milliseconds(4000);
  s.counters.loops = 3;
  return s;
}

PromExposition Parse(const AgentSnapshot& s) {
  std::string text = RenderMetrics(s, kNow);
  PromExposition e = ParsePrometheusText(text);
  EXPECT_TRUE(e.ok()) << e.error << "\n" << text;
  return e;
}

const std::map<std::string, std::string> kPrimaryLabels = {{"cluster", "shop"}, {"member", "pg-0"}};

TEST(Metrics, PrimarySnapshotRendersItsValues) {
  PromExposition e = Parse(PrimarySnapshot());
  ASSERT_TRUE(e.ok());
  for (const auto& sample : e.samples) {
    EXPECT_EQ(sample.labels.at("cluster"), "shop") << sample.name;
    EXPECT_EQ(sample.labels.at("member"), "pg-0") << sample.name;
  }
  EXPECT_EQ(e.Value("pgpilot_role", {{"role", "primary"}}), 1);
  EXPECT_EQ(e.Value("pgpilot_role", {{"role", "replica"}}), 0);
  EXPECT_EQ(e.Find("pgpilot_role").size(), 5u);
  EXPECT_EQ(e.Value("pgpilot_state", {{"state", "primary"}}), 1);
  EXPECT_EQ(e.Find("pgpilot_state").size(), 12u) << "one series per state";
  double states_on = 0;
  for (const auto* s : e.Find("pgpilot_state")) states_on += s->value;
  EXPECT_EQ(states_on, 1) << "one-hot";
  EXPECT_EQ(e.Value("pgpilot_postgres_up"), 1);
  EXPECT_EQ(e.Value("pgpilot_leader"), 1);
  EXPECT_EQ(e.Value("pgpilot_store_reachable"), 1);
  EXPECT_EQ(e.Value("pgpilot_timeline"), 3);
  EXPECT_EQ(e.Value("pgpilot_wal_write_position_bytes"), 50'331'744);
  EXPECT_TRUE(e.Find("pgpilot_wal_receive_position_bytes").empty());
  EXPECT_TRUE(e.Find("pgpilot_wal_replay_position_bytes").empty());
  EXPECT_EQ(e.Value("pgpilot_replication_lag_bytes", {{"replica", "pg-1"}}), 1000);
  EXPECT_EQ(e.Value("pgpilot_replication_lag_bytes", {{"replica", "pg-2"}}), 5'000'000);
  EXPECT_EQ(e.Find("pgpilot_replication_lag_bytes").size(), 2u)
      << "neither the leader itself nor a stopped member has a lag";
  EXPECT_EQ(e.Value("pgpilot_cluster_timeline_switches"), 2);
  EXPECT_EQ(e.Value("pgpilot_lease_ttl_seconds"), 10);
  EXPECT_EQ(e.Value("pgpilot_lease_renew_duration_seconds_count"), 3);
  EXPECT_NEAR(*e.Value("pgpilot_lease_renew_duration_seconds_sum"), 2.033, 1e-9);
  EXPECT_EQ(e.Value("pgpilot_lease_renew_duration_seconds_bucket", {{"le", "0.005"}}), 1);
  EXPECT_EQ(e.Value("pgpilot_lease_renew_duration_seconds_bucket", {{"le", "0.025"}}), 1);
  EXPECT_EQ(e.Value("pgpilot_lease_renew_duration_seconds_bucket", {{"le", "0.05"}}), 2);
  EXPECT_EQ(e.Value("pgpilot_lease_renew_duration_seconds_bucket", {{"le", "1"}}), 2);
  EXPECT_EQ(e.Value("pgpilot_lease_renew_duration_seconds_bucket", {{"le", "2.5"}}), 3);
  EXPECT_EQ(e.Value("pgpilot_lease_renew_duration_seconds_bucket", {{"le", "+Inf"}}), 3);
  EXPECT_EQ(e.Value("pgpilot_lease_renew_last_duration_seconds"), 2);
  EXPECT_EQ(e.Value("pgpilot_lease_renew_failures_total"), 1);
  EXPECT_EQ(e.Value("pgpilot_loops_total"), 42);
  EXPECT_EQ(e.Value("pgpilot_last_loop_age_seconds"), 1.5);
  EXPECT_EQ(e.Value("pgpilot_decisions_failed_total"), 1);
  EXPECT_EQ(e.Value("pgpilot_promotions_total", {{"cause", "failover"}}), 1);
  EXPECT_EQ(e.Value("pgpilot_promotions_total", {{"cause", "switchover"}}), 2);
}

TEST(Metrics, ReplicaSnapshotRendersItsValues) {
  PromExposition e = Parse(ReplicaSnapshot());
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e.Value("pgpilot_role", {{"role", "replica"}}), 1);
  EXPECT_EQ(e.Value("pgpilot_role", {{"role", "primary"}}), 0);
  EXPECT_EQ(e.Value("pgpilot_state", {{"state", "replica"}}), 1);
  EXPECT_EQ(e.Value("pgpilot_state", {{"state", "primary"}}), 0);
  EXPECT_EQ(e.Value("pgpilot_postgres_up"), 1);
  EXPECT_EQ(e.Value("pgpilot_leader"), 0);
  EXPECT_EQ(e.Value("pgpilot_store_reachable"), 0);
  EXPECT_EQ(e.Value("pgpilot_timeline"), 4);
  EXPECT_TRUE(e.Find("pgpilot_wal_write_position_bytes").empty());
  EXPECT_EQ(e.Value("pgpilot_wal_receive_position_bytes"), 7000);
  EXPECT_EQ(e.Value("pgpilot_wal_replay_position_bytes"), 6500);
  EXPECT_TRUE(e.Find("pgpilot_replication_lag_bytes").empty()) << "no cluster view: no lag";
  EXPECT_TRUE(e.Find("pgpilot_cluster_timeline_switches").empty());
  EXPECT_EQ(e.Value("pgpilot_lease_ttl_seconds"), 4);
  EXPECT_EQ(e.Value("pgpilot_lease_renew_duration_seconds_count"), 0);
  EXPECT_EQ(e.Value("pgpilot_lease_renew_duration_seconds_bucket", {{"le", "+Inf"}}), 0);
  EXPECT_TRUE(e.Find("pgpilot_lease_renew_last_duration_seconds").empty()) << "never renewed";
  EXPECT_EQ(e.Value("pgpilot_lease_renew_failures_total"), 0);
  EXPECT_EQ(e.Value("pgpilot_loops_total"), 3);
  EXPECT_EQ(e.Value("pgpilot_last_loop_age_seconds"), 0.25);
  EXPECT_EQ(e.Value("pgpilot_promotions_total", {{"cause", "failover"}}), 0);
  EXPECT_EQ(e.Value("pgpilot_promotions_total", {{"cause", "switchover"}}), 0);
}

TEST(Metrics, AMemberThatIsNotRunningHasNoWalPositionsAndPostgresIsDown) {
  AgentSnapshot s = ReplicaSnapshot();
  s.member.role = "stopped";
  s.member.state = "stopped";
  PromExposition e = Parse(s);
  EXPECT_EQ(e.Value("pgpilot_postgres_up"), 0);
  EXPECT_EQ(e.Value("pgpilot_role", {{"role", "stopped"}}), 1);
  EXPECT_TRUE(e.Find("pgpilot_wal_receive_position_bytes").empty());
  EXPECT_TRUE(e.Find("pgpilot_wal_write_position_bytes").empty());
}

TEST(Metrics, LabelValuesAreEscapedAndReadBackUnchanged) {
  AgentSnapshot s = PrimarySnapshot();
  s.cluster_name = "we\"ird\\name\nline";
  s.cluster->members[1].name = "pg-\"1\"";
  PromExposition e = Parse(s);
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e.Value("pgpilot_loops_total", {{"cluster", "we\"ird\\name\nline"}}), 42);
  EXPECT_EQ(e.Value("pgpilot_replication_lag_bytes", {{"replica", "pg-\"1\""}}), 1000);
}

TEST(Metrics, AnUnknownRoleIsStillReported) {
  AgentSnapshot s = ReplicaSnapshot();
  s.member.role = "something-new";
  PromExposition e = Parse(s);
  EXPECT_EQ(e.Value("pgpilot_role", {{"role", "something-new"}}), 1);
  EXPECT_EQ(e.Find("pgpilot_role").size(), 6u);
}

TEST(Metrics, EveryFamilyIsRenderedWithItsHelpAndTypeAndDocumented) {
  PromExposition primary = Parse(PrimarySnapshot());
  PromExposition replica = Parse(ReplicaSnapshot());
  std::ifstream doc_file(std::string(PGPILOT_SOURCE_DIR) + "/docs/configuration.md");
  std::stringstream doc;
  doc << doc_file.rdbuf();
  ASSERT_FALSE(doc.str().empty());
  std::set<std::string> names;
  for (const MetricFamily& f : MetricFamilies()) {
    names.insert(f.name);
    bool in_either = primary.types.count(f.name) || replica.types.count(f.name);
    EXPECT_TRUE(in_either) << f.name << " is rendered for neither snapshot";
    const PromExposition& e = primary.types.count(f.name) ? primary : replica;
    EXPECT_EQ(e.helps.count(f.name) ? e.helps.at(f.name) : "", f.help);
    // "`name`" or "`name{labels}`" in the table.
    std::string quoted = std::string(f.name);
    quoted.insert(quoted.begin(), '`');
    bool documented = false;
    for (size_t at = doc.str().find(quoted); at != std::string::npos && !documented;
         at = doc.str().find(quoted, at + 1)) {
      char after = doc.str()[at + quoted.size()];
      documented = after == '`' || after == '{';
    }
    EXPECT_TRUE(documented)
        << f.name << " is missing from the Metrics section of docs/configuration.md";
    if (f.type == MetricType::kCounter) {
      EXPECT_TRUE(std::string(f.name).ends_with("_total")) << f.name;
    } else {
      EXPECT_FALSE(std::string(f.name).ends_with("_total")) << f.name;
    }
    EXPECT_EQ(std::string(f.name).rfind("pgpilot_", 0), 0u) << f.name;
  }
  EXPECT_EQ(names.size(), MetricFamilies().size()) << "a family name twice";
  for (const auto& [family, type] : primary.types) EXPECT_TRUE(names.count(family)) << family;
}

// The reader above must itself refuse what a scraper or the conventions refuse, or the tests
// that use it prove nothing.
TEST(MetricsParser, RefusesTextThatBreaksTheFormatOrTheConventions) {
  const std::string head = "# HELP a_total A.\n# TYPE a_total counter\n";
  struct Case {
    const char* why;
    std::string text;
  };
  const Case cases[] = {
      {"no final newline", head + "a_total{x=\"1\"} 1"},
      {"counter without _total", "# HELP a A.\n# TYPE a counter\na 1\n"},
      {"no TYPE", "# HELP a A.\na 1\n"},
      {"no HELP", "# TYPE a gauge\na 1\n"},
      {"TYPE after the samples", "# HELP a A.\na 1\n# TYPE a gauge\n"},
      {"bad name", "# HELP 1a A.\n# TYPE 1a gauge\n1a 1\n"},
      {"bad label name", head + "a_total{1x=\"1\"} 1\n"},
      {"unquoted label", head + "a_total{x=1} 1\n"},
      {"bad escape", head + "a_total{x=\"\\t\"} 1\n"},
      {"not a float", head + "a_total{x=\"1\"} one\n"},
      {"hex float", head + "a_total{x=\"1\"} 0x10\n"},
      {"duplicate series", head + "a_total{x=\"1\"} 1\na_total{x=\"1\"} 2\n"},
      {"label twice", head + "a_total{x=\"1\",x=\"2\"} 1\n"},
      {"timestamp", head + "a_total{x=\"1\"} 1 1700000000\n"},
      {"other comment", head + "# hello\na_total 1\n"},
      {"empty line", head + "\na_total 1\n"},
      {"family split", head + "a_total{x=\"1\"} 1\n# HELP b B.\n# TYPE b gauge\nb 1\na_total{x=\"2\"} 1\n"},
      {"+Inf differs from _count",
       "# HELP h H.\n# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 3\n"},
      {"buckets decrease",
       "# HELP h H.\n# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n"},
  };
  for (const Case& c : cases) {
    EXPECT_FALSE(ParsePrometheusText(c.text).ok()) << c.why << ":\n" << c.text;
  }
  PromExposition good = ParsePrometheusText(
      head + "a_total{x=\"a\\\"b\\\\c\\nd\"} 1.5e3\n# HELP h H.\n# TYPE h histogram\n"
             "h_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 2\n");
  EXPECT_TRUE(good.ok()) << good.error;
  EXPECT_EQ(good.Value("a_total", {{"x", "a\"b\\c\nd"}}), 1500);
}

}  // namespace
}  // namespace pgpilot
