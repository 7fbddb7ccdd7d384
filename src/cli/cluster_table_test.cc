#include "cli/cluster_table.h"
#include "support/libpq_parse.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <libpq-fe.h>

#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

namespace pgpilot {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;
using testing::LibpqParse;


std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) out.push_back(line);
  return out;
}

MemberStatus M(const std::string& name, const std::string& role, uint64_t wal, bool streaming = false,
               const std::string& upstream = "") {
  MemberStatus m;
  m.name = name;
  m.role = role;
  m.state = role;
  m.reason = role == "primary" ? "holds the lease" : "following " + upstream;
  m.api_url = std::string("http://127.0.0.1:810") + name.back();
  m.host = "127.0.0.1";
  m.port = 5432;
  m.timeline = 2;
  m.wal_position = Lsn{wal};
  m.streaming = streaming;
  m.upstream = upstream;
  return m;
}

// A healthy three-member cluster: pg-0 leads, pg-1 and pg-2 stream from it.
ClusterView Healthy() {
  ClusterView v;
  v.initialize = InitializeRecord{"pg-0", "7311350155343754086"};
  v.leader = LeaderRecord{"pg-0", 3, Duration(10000), Lsn{0x3000000}, 2, false, 17};
  v.members = {M("pg-0", "primary", 0x3000148), M("pg-1", "replica", 0x3000100, true, "pg-0"),
               M("pg-2", "replica", 0x2FFF000, true, "pg-0")};
  return v;
}

MemberStatus* Find(ClusterView& v, const std::string& name) {
  for (auto& m : v.members) {
    if (m.name == name) return &m;
  }
  return nullptr;
}

const std::vector<std::string> kConfigured = {"pg-0", "pg-1", "pg-2"};

// ---------------------------------------------------------------------------------------------
// ClusterDsn

TEST(ClusterDsn, ReadWriteListsEveryMember) {
  std::string dsn = ClusterDsn({{"127.0.0.1", 5432}, {"127.0.0.1", 5433}, {"10.0.0.5", 6432}}, "postgres", false);
  EXPECT_EQ(dsn,
            "postgresql://postgres@127.0.0.1:5432,127.0.0.1:5433,10.0.0.5:6432/postgres"
            "?target_session_attrs=read-write&connect_timeout=3");
  auto p = LibpqParse(dsn);
  EXPECT_EQ(p["host"], "127.0.0.1,127.0.0.1,10.0.0.5");
  EXPECT_EQ(p["port"], "5432,5433,6432");
  EXPECT_EQ(p["user"], "postgres");
  EXPECT_EQ(p["dbname"], "postgres");
  EXPECT_EQ(p["target_session_attrs"], "read-write");
}

TEST(ClusterDsn, ReplicasVariantPrefersStandbys) {
  std::string dsn = ClusterDsn({{"h1", 5432}, {"h2", 5433}}, "app", true);
  EXPECT_THAT(dsn, HasSubstr("target_session_attrs=prefer-standby"));
  EXPECT_THAT(dsn, Not(HasSubstr("read-write")));
  auto p = LibpqParse(dsn);
  EXPECT_EQ(p["host"], "h1,h2");
  EXPECT_EQ(p["port"], "5432,5433");
  EXPECT_EQ(p["target_session_attrs"], "prefer-standby");
}

TEST(ClusterDsn, Ipv6HostsAreBracketed) {
  std::string dsn = ClusterDsn({{"::1", 5432}, {"fd00::5", 5433}, {"127.0.0.1", 5434}}, "postgres", false);
  EXPECT_THAT(dsn, HasSubstr("@[::1]:5432,[fd00::5]:5433,127.0.0.1:5434/"));
  auto p = LibpqParse(dsn);
  EXPECT_EQ(p["host"], "::1,fd00::5,127.0.0.1");
  EXPECT_EQ(p["port"], "5432,5433,5434");
}

TEST(ClusterDsn, UserNamesThatNeedEscapingSurviveLibpq) {
  for (const std::string user : {"ops@example.com", "my user", "a:b", "x/y?z#w", "100%"}) {
    auto p = LibpqParse(ClusterDsn({{"h1", 5432}}, user, false));
    EXPECT_EQ(p["user"], user);
    EXPECT_EQ(p["host"], "h1");
    EXPECT_EQ(p["target_session_attrs"], "read-write");
  }
}

// ---------------------------------------------------------------------------------------------
// ClusterNotHealthy

TEST(ClusterNotHealthy, HealthyClusterIsHealthy) {
  EXPECT_EQ(ClusterNotHealthy(Healthy(), kConfigured), std::nullopt);
}

TEST(ClusterNotHealthy, NotInitialized) {
  ClusterView v = Healthy();
  v.initialize.reset();
  EXPECT_THAT(ClusterNotHealthy(v, kConfigured).value_or(""), HasSubstr("not initialized"));
  v.initialize = InitializeRecord{"pg-0", ""};
  EXPECT_THAT(ClusterNotHealthy(v, kConfigured).value_or(""), HasSubstr("not initialized"))
      << "a claim whose initdb has not finished";
}

TEST(ClusterNotHealthy, NoLeaseHolder) {
  ClusterView v = Healthy();
  v.leader.reset();
  EXPECT_THAT(ClusterNotHealthy(v, kConfigured).value_or(""), HasSubstr("no member holds the leader lease"));
  v = Healthy();
  v.leader->released = true;
  EXPECT_THAT(ClusterNotHealthy(v, kConfigured).value_or(""), HasSubstr("no member holds the leader lease"));
}

TEST(ClusterNotHealthy, LeaderIsNotARunningPrimary) {
  ClusterView v = Healthy();
  Find(v, "pg-0")->state = "promoting";
  EXPECT_THAT(ClusterNotHealthy(v, kConfigured).value_or(""), HasSubstr("leader pg-0 is not a running primary"));
  v = Healthy();
  Find(v, "pg-0")->role = "replica";
  EXPECT_THAT(ClusterNotHealthy(v, kConfigured).value_or(""), HasSubstr("pg-0"));
  v = Healthy();
  v.members.erase(v.members.begin());
  EXPECT_THAT(ClusterNotHealthy(v, kConfigured).value_or(""), HasSubstr("leader pg-0 is not a running primary"));
}

TEST(ClusterNotHealthy, NamesTheMemberThatIsMissingOrNotStreaming) {
  ClusterView v = Healthy();
  v.members.pop_back();
  EXPECT_EQ(ClusterNotHealthy(v, kConfigured).value_or(""), "pg-2 has not reported yet");

  v = Healthy();
  MemberStatus* m = Find(v, "pg-1");
  m->streaming = false;
  m->state = "starting";
  m->reason = "waiting for the WAL receiver";
  std::string why = ClusterNotHealthy(v, kConfigured).value_or("");
  EXPECT_THAT(why, StartsWith("pg-1 is not streaming from pg-0"));
  EXPECT_THAT(why, HasSubstr("starting"));
  EXPECT_THAT(why, HasSubstr("waiting for the WAL receiver"));

  v = Healthy();
  Find(v, "pg-2")->upstream = "pg-1";  // cascading from the wrong member
  EXPECT_THAT(ClusterNotHealthy(v, kConfigured).value_or(""), StartsWith("pg-2 is not streaming from pg-0"));

  v = Healthy();
  Find(v, "pg-2")->role = "stopped";
  EXPECT_THAT(ClusterNotHealthy(v, kConfigured).value_or(""), StartsWith("pg-2"));
}

TEST(ClusterNotHealthy, OnlyConfiguredMembersAreRequired) {
  ClusterView v = Healthy();
  v.members.push_back(M("pg-9", "stopped", 0));
  EXPECT_EQ(ClusterNotHealthy(v, kConfigured), std::nullopt);
  EXPECT_THAT(ClusterNotHealthy(v, {"pg-0", "pg-1", "pg-2", "pg-9"}).value_or(""), HasSubstr("pg-9"));
}

// ---------------------------------------------------------------------------------------------
// the table

TEST(ClusterTable, RendersMembersInOrderWithLag) {
  ClusterView v = Healthy();
  std::string table = RenderClusterTable("orders", v, {"pg-2", "pg-0", "pg-1"});
  auto lines = Lines(table);
  ASSERT_GE(lines.size(), 5u) << table;
  EXPECT_EQ(lines[0], "Cluster orders (system 7311350155343754086), leader pg-0 (term 3, ttl 10.0s)");
  EXPECT_THAT(lines[1], StartsWith("MEMBER"));
  EXPECT_THAT(lines[2], StartsWith("pg-0 "));
  EXPECT_THAT(lines[3], StartsWith("pg-1 "));
  EXPECT_THAT(lines[4], StartsWith("pg-2 "));

  auto cells = [](const std::string& line) {
    std::istringstream in(line);
    std::vector<std::string> out;
    std::string w;
    while (in >> w) out.push_back(w);
    return out;
  };
  auto header = cells(lines[1]);
  EXPECT_EQ(header, (std::vector<std::string>{"MEMBER", "ROLE", "STATE", "TL", "LSN", "LAG(B)", "API"}));
  auto p0 = cells(lines[2]);
  auto p1 = cells(lines[3]);
  auto p2 = cells(lines[4]);
  ASSERT_EQ(p0.size(), 7u);
  ASSERT_EQ(p1.size(), 7u);
  ASSERT_EQ(p2.size(), 7u);
  EXPECT_EQ(p0[1], "primary*");
  EXPECT_EQ(p0[3], "2");
  EXPECT_EQ(p0[4], "0/3000148");
  EXPECT_EQ(p0[5], "-") << "the leader has no lag";
  EXPECT_EQ(p1[1], "replica");
  EXPECT_EQ(p1[5], std::to_string(0x3000148 - 0x3000100));
  EXPECT_EQ(p2[5], std::to_string(0x3000148 - 0x2FFF000));
  EXPECT_EQ(p2[6], "http://127.0.0.1:8102");

  // Columns line up: every cell starts where its header does.
  for (size_t row = 2; row <= 4; ++row) {
    EXPECT_EQ(lines[row].find(cells(lines[row])[4]), lines[1].find("LSN")) << lines[row];
    EXPECT_EQ(lines[row].find(cells(lines[row])[6]), lines[1].find("API")) << lines[row];
  }
  EXPECT_THAT(table, HasSubstr("(* holds the leader lease)"));
}

TEST(ClusterTable, MissingMembersShowAsDownWithAReason) {
  ClusterView v = Healthy();
  v.members.pop_back();  // pg-2 has not reported
  v.members.push_back(M("pg-3", "replica", 0x3000148, true, "pg-0"));  // not configured, still shown
  std::string table = RenderClusterTable("orders", v, kConfigured);
  auto lines = Lines(table);
  ASSERT_GE(lines.size(), 6u) << table;
  EXPECT_THAT(lines[4], StartsWith("pg-2 "));
  EXPECT_THAT(lines[4], HasSubstr(" down "));
  EXPECT_THAT(lines[5], StartsWith("pg-3 "));
  EXPECT_THAT(table, HasSubstr("pg-2: no agent has reported"));
  EXPECT_THAT(table, Not(HasSubstr("pg-1: following"))) << "no reason line for members doing fine";
}

TEST(ClusterTable, ReplicaAheadOfThePublishedLeaderPositionShowsZeroLag) {
  ClusterView v = Healthy();
  Find(v, "pg-1")->wal_position = Lsn{0x4000000};
  auto lines = Lines(RenderClusterTable("orders", v, kConfigured));
  std::istringstream in(lines[3]);
  std::vector<std::string> c;
  for (std::string w; in >> w;) c.push_back(w);
  ASSERT_EQ(c.size(), 7u);
  EXPECT_EQ(c[5], "0");
}

TEST(ClusterTable, ReleasedOrAbsentLease) {
  ClusterView v = Healthy();
  v.leader->released = true;
  std::string table = RenderClusterTable("orders", v, kConfigured);
  EXPECT_THAT(table, HasSubstr("lease released by pg-0"));
  EXPECT_THAT(table, Not(HasSubstr("primary*")));
  EXPECT_THAT(table, Not(HasSubstr("(* holds the leader lease)")));

  v.leader.reset();
  v.initialize->system_id = "";
  table = RenderClusterTable("orders", v, kConfigured);
  EXPECT_EQ(Lines(table)[0], "Cluster orders, no leader");
}

TEST(ClusterTable, JsonListsMembersInOrder) {
  ClusterView v = Healthy();
  v.members.pop_back();
  v.history = {HistoryEntry{2, Lsn{0x3000000}, 0, "pg-1", "pg-0", 3, WallTime{0}, "failover"}};
  auto j = nlohmann::json::parse(RenderClusterJson("orders", v, kConfigured));
  EXPECT_EQ(j["cluster"], "orders");
  EXPECT_EQ(j["system_id"], "7311350155343754086");
  EXPECT_EQ(j["leader"]["holder"], "pg-0");
  EXPECT_EQ(j["leader"]["term"], 3);
  ASSERT_EQ(j["members"].size(), 3u);
  EXPECT_EQ(j["members"][0]["name"], "pg-0");
  EXPECT_EQ(j["members"][0]["holds_lease"], true);
  EXPECT_TRUE(j["members"][0]["lag_bytes"].is_null());
  EXPECT_EQ(j["members"][1]["lag_bytes"], 0x3000148 - 0x3000100);
  EXPECT_EQ(j["members"][2]["name"], "pg-2");
  EXPECT_EQ(j["members"][2]["role"], "down");
  EXPECT_FALSE(j["members"][2].contains("lsn"));
  ASSERT_EQ(j["history"].size(), 1u);
  EXPECT_EQ(j["history"][0]["time"], "1970-01-01T00:00:00.000Z");
}

TEST(ClusterTable, PendingAndRefusedOperatorRequestsAreListed) {
  ClusterView v = Healthy();
  EXPECT_THAT(RenderClusterTable("orders", v, kConfigured), Not(HasSubstr("requested")));
  v.requests = RequestsRecord{{MemberRequest{"pg-0", RequestKind::kReinit, false, WallTime{1}, "this member is the leader"},
                               MemberRequest{"pg-2", RequestKind::kRestart, true, WallTime{1}, ""}},
                              5};
  std::string table = RenderClusterTable("orders", v, kConfigured);
  EXPECT_THAT(table, HasSubstr("pg-0: reinit requested, refused: this member is the leader"));
  EXPECT_THAT(table, HasSubstr("pg-2: restart (if pending) requested, not carried out yet"));
}

TEST(ClusterTable, WarnsWhenRolesCommitWithoutWaiting) {
  ClusterView v = Healthy();
  EXPECT_THAT(RenderClusterTable("orders", v, kConfigured), Not(HasSubstr("warning")));
  Find(v, "pg-0")->commit_overrides = "app in shop: synchronous_commit=off";
  std::string table = RenderClusterTable("orders", v, kConfigured);
  EXPECT_THAT(table, HasSubstr("warning: app in shop: synchronous_commit=off: those commits wait neither"));
}

}  // namespace
}  // namespace pgpilot
