#include "postgres/settings.h"
#include "support/libpq_parse.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <libpq-fe.h>

#include <algorithm>
#include <map>
#include <sstream>
#include <string>
#include <vector>

namespace pgpilot {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;
using testing::LibpqParse;


// Reads a postgresql.conf quoted value back the way the server does ('' and \-escapes).
std::string UnquoteConf(const std::string& quoted) {
  EXPECT_GE(quoted.size(), 2u);
  EXPECT_EQ(quoted.front(), '\'');
  EXPECT_EQ(quoted.back(), '\'');
  std::string out;
  for (size_t i = 1; i + 1 < quoted.size(); ++i) {
    char c = quoted[i];
    if (c == '\'' ) {
      EXPECT_EQ(quoted[i + 1], '\'') << "a lone quote inside a value ends it early: " << quoted;
      out += '\'';
      ++i;
    } else if (c == '\\') {
      ++i;
      EXPECT_LT(i + 1, quoted.size()) << "a trailing backslash escapes the closing quote: " << quoted;
      out += quoted[i];
    } else {
      out += c;
    }
  }
  return out;
}

// name -> raw value text of every "name = value" line.
std::map<std::string, std::string> ConfLines(const std::string& conf) {
  std::map<std::string, std::string> out;
  std::istringstream in(conf);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    size_t eq = line.find(" = ");
    EXPECT_NE(eq, std::string::npos) << line;
    if (eq == std::string::npos) continue;
    EXPECT_EQ(out.count(line.substr(0, eq)), 0u) << "set twice: " << line;
    out[line.substr(0, eq)] = line.substr(eq + 3);
  }
  return out;
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) out.push_back(line);
  return out;
}

// ---------------------------------------------------------------------------------------------
// connection strings

TEST(Conninfo, PlainValuesStayUnquotedInOrder) {
  EXPECT_EQ(Conninfo({{"host", "10.0.0.5"}, {"port", "5433"}, {"user", "replicator"}}),
            "host=10.0.0.5 port=5433 user=replicator");
}

TEST(Conninfo, EmptyValuesAreLeftOut) {
  EXPECT_EQ(Conninfo({{"host", "h"}, {"passfile", ""}, {"port", "1"}}), "host=h port=1");
  EXPECT_EQ(Conninfo({}), "");
}

TEST(Conninfo, SpacesQuotesAndBackslashesAreQuotedAsLibpqExpects) {
  EXPECT_EQ(Conninfo({{"passfile", "/var/lib/my pg/pgpass"}}), "passfile='/var/lib/my pg/pgpass'");
  EXPECT_EQ(Conninfo({{"application_name", "it's"}}), R"(application_name='it\'s')");
  EXPECT_EQ(Conninfo({{"passfile", R"(C:\pg\pass)"}}), R"(passfile='C:\\pg\\pass')");
  EXPECT_EQ(Conninfo({{"options", "a\tb"}}), "options='a\tb'");

  const std::vector<std::pair<std::string, std::string>> awkward = {
      {"host", "db.example.com"},
      {"passfile", "/srv/my pg/it's \\ here/pgpass"},
      {"application_name", "'"},
      {"user", "\\"},
      {"options", "-c search_path='a b'"},
      {"sslmode", "prefer"}};
  auto parsed = LibpqParse(Conninfo(awkward));
  for (const auto& [k, v] : awkward) EXPECT_EQ(parsed[k], v) << k;
}

TEST(Conninfo, HostPortIsReadBack) {
  EXPECT_EQ(ConninfoHostPort("host=10.0.0.5 port=5433 user=r"), "10.0.0.5:5433");
  EXPECT_EQ(ConninfoHostPort("user=r host=db"), "db:5432") << "libpq's default port";
  EXPECT_EQ(ConninfoHostPort("hostaddr=127.0.0.1 port=6000"), "127.0.0.1:6000");
  EXPECT_EQ(ConninfoHostPort("host = 'my host' port = '7000'"), "my host:7000");
  EXPECT_EQ(ConninfoHostPort("user=r port=5432"), "");
  EXPECT_EQ(ConninfoHostPort(""), "");
  InstanceSettings s;
  s.member_name = "pg-1";
  s.passfile = "/srv/my pg/pgpass";
  EXPECT_EQ(ConninfoHostPort(PrimaryConninfo(MemberEndpoint{"pg-0", "10.1.2.3", 5499}, s)), "10.1.2.3:5499");
}

TEST(Conninfo, PrimaryConninfoNamesUpstreamUserPassfileAndApplication) {
  InstanceSettings s;
  s.member_name = "pg-2";
  s.replication_user = "repl user";
  s.passfile = "/var/lib/pgpilot/pg 2/pgpass";
  std::string conninfo = PrimaryConninfo(MemberEndpoint{"pg-0", "10.0.0.1", 5433}, s);
  EXPECT_THAT(conninfo, Not(HasSubstr("password="))) << "the password comes from the passfile";
  auto parsed = LibpqParse(conninfo);
  EXPECT_EQ(parsed["host"], "10.0.0.1");
  EXPECT_EQ(parsed["port"], "5433");
  EXPECT_EQ(parsed["user"], "repl user");
  EXPECT_EQ(parsed["passfile"], "/var/lib/pgpilot/pg 2/pgpass");
  EXPECT_EQ(parsed["application_name"], "pg-2");
  EXPECT_FALSE(parsed["connect_timeout"].empty());
}

// ---------------------------------------------------------------------------------------------
// postgresql.conf values, pgpass, slots

TEST(QuoteConfValue, QuotesAndEscapes) {
  EXPECT_EQ(QuoteConfValue("plain"), "'plain'");
  EXPECT_EQ(QuoteConfValue(""), "''");
  EXPECT_EQ(QuoteConfValue("it's"), "'it''s'");
  EXPECT_EQ(QuoteConfValue(R"(a\b)"), R"('a\\b')");
  EXPECT_EQ(QuoteConfValue("trailing\\"), R"('trailing\\')");
  EXPECT_EQ(QuoteConfValue("two\nlines\r"), "'two lines '") << "a newline would end the setting";
  for (const std::string v : {"'", "''", "\\'", "a 'b' \\c\\ d", "%m [%p] # not a comment"}) {
    EXPECT_EQ(UnquoteConf(QuoteConfValue(v)), v);
  }
}

TEST(PgpassLine, EscapesColonsAndBackslashes) {
  EXPECT_EQ(PgpassLine("replicator", "s3cret"), "*:*:*:replicator:s3cret\n");
  EXPECT_EQ(PgpassLine("rep:l", "pa:ss\\word"), "*:*:*:rep\\:l:pa\\:ss\\\\word\n");
  EXPECT_EQ(PgpassLine("u", ":"), "*:*:*:u:\\:\n");
  EXPECT_EQ(PgpassLine("u", "\\"), "*:*:*:u:\\\\\n");
}

TEST(SlotName, LowerCaseWithUnderscores) {
  EXPECT_EQ(SlotName("pg-1"), "pg_1");
  EXPECT_EQ(SlotName("orders-db-12"), "orders_db_12");
  EXPECT_EQ(SlotName("PG.Node 2"), "pg_node_2");
  EXPECT_EQ(SlotName("abc123"), "abc123");
  std::string slot = SlotName("x-\xc3\xa9-y");
  EXPECT_TRUE(std::all_of(slot.begin(), slot.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  })) << slot;
}

// ---------------------------------------------------------------------------------------------
// pgpilot.conf

InstanceSettings Settings() {
  InstanceSettings s;
  s.member_name = "pg-1";
  s.listen_addresses = "127.0.0.1,10.0.0.5";
  s.port = 5433;
  s.socket_dir = "/run/pgpilot/pg-1";
  s.replication_user = "replicator";
  s.superuser = "postgres";
  s.passfile = "/var/lib/pgpilot/pg-1/pgpass";
  s.parameters = {{"shared_buffers", "256MB"}, {"log_line_prefix", "%m [%p] it's "}};
  return s;
}

TEST(ManagedConf, PrimaryHasEveryManagedSettingAndNoUpstream) {
  std::string conf = RenderManagedConf(Settings(), std::nullopt);
  EXPECT_THAT(conf, StartsWith("# Written by pgpilot for member pg-1"));
  auto lines = ConfLines(conf);
  EXPECT_EQ(lines["listen_addresses"], "'127.0.0.1,10.0.0.5'");
  EXPECT_EQ(lines["port"], "5433");
  EXPECT_EQ(lines["unix_socket_directories"], "'/run/pgpilot/pg-1'");
  EXPECT_EQ(lines["cluster_name"], "'pg-1'");
  EXPECT_EQ(lines["wal_level"], "replica");
  EXPECT_EQ(lines["hot_standby"], "on");
  EXPECT_EQ(lines["wal_log_hints"], "on") << "pg_rewind needs it";
  EXPECT_EQ(lines["password_encryption"], "'scram-sha-256'");
  EXPECT_EQ(lines["recovery_target_timeline"], "'latest'");
  EXPECT_EQ(lines["primary_conninfo"], "''");
  EXPECT_EQ(lines["primary_slot_name"], "''");
  EXPECT_NE(lines["max_wal_senders"], "");
  EXPECT_NE(lines["max_wal_senders"], "0");
  EXPECT_NE(lines["max_replication_slots"], "0");
}

TEST(ManagedConf, EveryManagedParameterThatPgpilotSetsIsListedAsManaged) {
  auto lines = ConfLines(RenderManagedConf(Settings(), MemberEndpoint{"pg-0", "h", 1}));
  const auto& managed = ManagedParameterNames();
  for (const char* name : {"listen_addresses", "port", "unix_socket_directories", "cluster_name",
                           "wal_level", "hot_standby", "wal_log_hints", "password_encryption",
                           "recovery_target_timeline", "primary_conninfo", "primary_slot_name"}) {
    EXPECT_TRUE(lines.count(name)) << name;
    EXPECT_NE(std::find(managed.begin(), managed.end(), name), managed.end())
        << name << " is written by pgpilot, so an operator may not set it";
  }
}

TEST(ManagedConf, ReplicaFollowsItsUpstreamThroughItsSlot) {
  InstanceSettings s = Settings();
  s.member_name = "Pg-2";
  s.passfile = "/srv/it's here/pgpass";
  std::string conf = RenderManagedConf(s, MemberEndpoint{"pg-0", "10.0.0.1", 5432});
  auto lines = ConfLines(conf);
  EXPECT_EQ(lines["primary_slot_name"], "'pg_2'");
  std::string conninfo = UnquoteConf(lines["primary_conninfo"]);
  EXPECT_EQ(conninfo, PrimaryConninfo(MemberEndpoint{"pg-0", "10.0.0.1", 5432}, s));
  auto parsed = LibpqParse(conninfo);
  EXPECT_EQ(parsed["host"], "10.0.0.1");
  EXPECT_EQ(parsed["port"], "5432");
  EXPECT_EQ(parsed["user"], "replicator");
  EXPECT_EQ(parsed["passfile"], "/srv/it's here/pgpass");
  EXPECT_EQ(parsed["application_name"], "Pg-2");
}

TEST(ManagedConf, OperatorParametersComeLastAndQuoted) {
  std::string conf = RenderManagedConf(Settings(), std::nullopt);
  auto lines = Lines(conf);
  auto pos = [&](const std::string& prefix) {
    for (size_t i = 0; i < lines.size(); ++i) {
      if (lines[i].rfind(prefix, 0) == 0) return static_cast<int>(i);
    }
    return -1;
  };
  int shared = pos("shared_buffers = ");
  int prefix = pos("log_line_prefix = ");
  ASSERT_GE(shared, 0);
  ASSERT_GE(prefix, 0);
  EXPECT_GT(shared, pos("primary_slot_name = "));
  EXPECT_GT(prefix, shared) << "in the agent config's order";
  EXPECT_EQ(lines[shared], "shared_buffers = '256MB'");
  EXPECT_EQ(UnquoteConf(ConfLines(conf)["log_line_prefix"]), "%m [%p] it's ");

  InstanceSettings none = Settings();
  none.parameters.clear();
  EXPECT_THAT(RenderManagedConf(none, std::nullopt), Not(HasSubstr("# postgresql.parameters from")));
}

TEST(ManagedConf, NoSocketDirectoryMeansNoUnixSocket) {
  InstanceSettings s = Settings();
  s.socket_dir = "";
  EXPECT_EQ(ConfLines(RenderManagedConf(s, std::nullopt))["unix_socket_directories"], "''");
}

// ---------------------------------------------------------------------------------------------
// pg_hba.conf

struct HbaLine {
  std::string type, database, user, address, method;
};

std::vector<HbaLine> ParseHba(const std::string& text) {
  std::vector<HbaLine> out;
  for (const auto& line : Lines(text)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream in(line);
    std::vector<std::string> f;
    std::string w;
    while (in >> w) f.push_back(w);
    if (f.size() == 4 && f[0] == "local") out.push_back({f[0], f[1], f[2], "", f[3]});
    else if (f.size() == 5) out.push_back({f[0], f[1], f[2], f[3], f[4]});
    else ADD_FAILURE() << "unexpected pg_hba line: " << line;
  }
  return out;
}

TEST(Hba, ScramOnlyNoTrust) {
  HbaSettings s;
  s.allowed_networks = {"10.0.0.0/24"};
  std::string hba = RenderHba(s);
  EXPECT_THAT(hba, Not(HasSubstr("trust")));
  EXPECT_THAT(hba, Not(HasSubstr("md5")));
  EXPECT_THAT(hba, Not(HasSubstr("password ")));
  auto lines = ParseHba(hba);
  ASSERT_FALSE(lines.empty());
  for (const auto& l : lines) EXPECT_EQ(l.method, "scram-sha-256") << l.type << " " << l.address;
}

TEST(Hba, ReplicationOnlyForTheReplicationUserFromAllowedNetworks) {
  HbaSettings s;
  s.replication_user = "repl";
  s.allowed_networks = {"10.0.0.0/24", "192.168.7.0/24", "127.0.0.1/32"};
  auto lines = ParseHba(RenderHba(s));
  std::vector<std::string> replication_from, all_from;
  for (const auto& l : lines) {
    if (l.database == "replication") {
      EXPECT_EQ(l.user, "\"repl\"") << "only the replication user may replicate";
      if (l.type == "host") replication_from.push_back(l.address);
      else EXPECT_EQ(l.type, "local") << "the commit fence's connection over the Unix socket";
    } else {
      EXPECT_EQ(l.database, "all");
      if (l.type == "host") all_from.push_back(l.address);
    }
  }
  const std::vector<std::string> expected = {"127.0.0.1/32", "::1/128", "10.0.0.0/24", "192.168.7.0/24"};
  EXPECT_EQ(replication_from, expected) << "loopback plus the configured networks, each once";
  EXPECT_EQ(all_from, expected);
  EXPECT_EQ(std::count_if(lines.begin(), lines.end(), [](const HbaLine& l) { return l.type == "local"; }), 2)
      << "local: every database, and replication for the replication user only";
}

TEST(Hba, WithoutNetworksOnlyLoopbackIsAllowed) {
  HbaSettings s;
  for (const auto& l : ParseHba(RenderHba(s))) {
    if (l.type == "local") continue;
    EXPECT_TRUE(l.address == "127.0.0.1/32" || l.address == "::1/128") << l.address;
  }
}

// ---------------------------------------------------------------------------------------------
// TLS between members (postgresql.tls)

PgTls Tls(PgTlsMode mode) {
  return PgTls{mode, "/etc/pgpilot/tls/server's cert.pem", "/etc/pgpilot/tls/server.key",
               "/etc/pgpilot/tls/ca.pem"};
}

TEST(ManagedConfTls, OffWritesNoSslSettingsAsBefore) {
  InstanceSettings s = Settings();
  std::string conf = RenderManagedConf(s, std::nullopt);
  for (const char* name : {"ssl", "ssl_cert_file", "ssl_key_file", "ssl_ca_file"}) {
    EXPECT_EQ(ConfLines(conf).count(name), 0u) << name;
  }
  s.tls = Tls(PgTlsMode::kOff);
  EXPECT_EQ(RenderManagedConf(s, std::nullopt), conf) << "files without a mode change nothing";
}

TEST(ManagedConfTls, EnabledTurnsSslOnWithTheConfiguredFiles) {
  for (PgTlsMode mode : {PgTlsMode::kOn, PgTlsMode::kVerifyCa, PgTlsMode::kVerifyFull}) {
    InstanceSettings s = Settings();
    s.tls = Tls(mode);
    auto lines = ConfLines(RenderManagedConf(s, std::nullopt));
    EXPECT_EQ(lines["ssl"], "on") << PgTlsModeName(mode);
    EXPECT_EQ(UnquoteConf(lines["ssl_cert_file"]), "/etc/pgpilot/tls/server's cert.pem");
    EXPECT_EQ(UnquoteConf(lines["ssl_key_file"]), "/etc/pgpilot/tls/server.key");
    EXPECT_EQ(UnquoteConf(lines["ssl_ca_file"]), "/etc/pgpilot/tls/ca.pem");
  }
  InstanceSettings no_ca = Settings();
  no_ca.tls = Tls(PgTlsMode::kOn);
  no_ca.tls.ca_file.clear();
  auto lines = ConfLines(RenderManagedConf(no_ca, std::nullopt));
  EXPECT_EQ(lines["ssl"], "on");
  EXPECT_EQ(lines.count("ssl_ca_file"), 0u) << "mode on needs no CA";
}

TEST(ManagedConfTls, SslSettingsAreManagedSoNeitherTheAgentConfigNorTheStoreOverridesThem) {
  for (const char* name : {"ssl", "ssl_cert_file", "ssl_key_file", "ssl_ca_file", "SSL"}) {
    EXPECT_TRUE(IsManagedParameter(name)) << name;
  }
  EXPECT_FALSE(IsManagedParameter("ssl_min_protocol_version")) << "the operator's to choose";
  InstanceSettings s = Settings();
  s.tls = Tls(PgTlsMode::kVerifyCa);
  std::string conf = RenderManagedConf(s, std::nullopt, "", {{"ssl", "off"}, {"work_mem", "64MB"}});
  EXPECT_EQ(RenderedClusterParameters(conf), (Parameters{{"work_mem", "64MB"}}));
  EXPECT_EQ(ConfLines(conf)["ssl"], "on");
}

TEST(ConninfoTls, PrimaryConninfoUsesTheModesSslmodeAndTheCa) {
  MemberEndpoint upstream{"pg-0", "10.0.0.1", 5433};
  InstanceSettings s = Settings();

  auto off = LibpqParse(PrimaryConninfo(upstream, s));
  EXPECT_EQ(off.count("sslmode"), 0u) << "TLS off: libpq's default, as before";
  EXPECT_EQ(off.count("sslrootcert"), 0u);

  s.tls = Tls(PgTlsMode::kOn);
  auto on = LibpqParse(PrimaryConninfo(upstream, s));
  EXPECT_EQ(on["sslmode"], "require");
  EXPECT_EQ(on.count("sslrootcert"), 0u) << "with a root certificate, require would verify";

  s.tls = Tls(PgTlsMode::kVerifyCa);
  auto ca = LibpqParse(PrimaryConninfo(upstream, s));
  EXPECT_EQ(ca["sslmode"], "verify-ca");
  EXPECT_EQ(ca["sslrootcert"], "/etc/pgpilot/tls/ca.pem");
  EXPECT_EQ(ca["user"], "replicator");
  EXPECT_EQ(ca["passfile"], "/var/lib/pgpilot/pg-1/pgpass");

  s.tls = Tls(PgTlsMode::kVerifyFull);
  std::string full = PrimaryConninfo(upstream, s);
  EXPECT_EQ(LibpqParse(full)["sslmode"], "verify-full");
  EXPECT_EQ(LibpqParse(full)["sslrootcert"], "/etc/pgpilot/tls/ca.pem");
  EXPECT_THAT(full, Not(HasSubstr("sslkey"))) << "members authenticate with SCRAM, not certificates";
  EXPECT_EQ(UnquoteConf(ConfLines(RenderManagedConf(s, upstream))["primary_conninfo"]), full);
}

TEST(ConninfoTls, PgBasebackupGetsTheSameSettingsThroughItsEnvironment) {
  using Env = std::vector<std::pair<std::string, std::string>>;
  EXPECT_EQ(MemberSslEnvironment(Tls(PgTlsMode::kOff)), Env{});
  EXPECT_EQ(MemberSslEnvironment(Tls(PgTlsMode::kOn)), (Env{{"PGSSLMODE", "require"}}));
  EXPECT_EQ(MemberSslEnvironment(Tls(PgTlsMode::kVerifyFull)),
            (Env{{"PGSSLMODE", "verify-full"}, {"PGSSLROOTCERT", "/etc/pgpilot/tls/ca.pem"}}));
}

TEST(HbaTls, NetworksNeedTlsLoopbackDoesNotAndReplicationStaysTheReplicationUsers) {
  HbaSettings s;
  s.replication_user = "repl";
  s.allowed_networks = {"10.0.0.0/24", "::1/128", "192.168.7.0/24"};
  s.tls = true;
  std::string hba = RenderHba(s);
  EXPECT_THAT(hba, Not(HasSubstr("trust")));
  std::vector<std::string> ssl_replication, ssl_all, plain;
  for (const auto& l : ParseHba(hba)) {
    EXPECT_EQ(l.method, "scram-sha-256") << l.type << " " << l.address;
    if (l.type == "local") continue;
    bool loopback = l.address == "127.0.0.1/32" || l.address == "::1/128";
    if (l.type == "host") {
      EXPECT_TRUE(loopback) << "only loopback may connect without TLS, not " << l.address;
      plain.push_back(l.database + " " + l.address);
      continue;
    }
    ASSERT_EQ(l.type, "hostssl") << l.address;
    EXPECT_FALSE(loopback) << l.address;
    if (l.database == "replication") {
      EXPECT_EQ(l.user, "\"repl\"") << "only the replication user may replicate";
      ssl_replication.push_back(l.address);
    } else {
      EXPECT_EQ(l.database, "all");
      ssl_all.push_back(l.address);
    }
  }
  const std::vector<std::string> networks = {"10.0.0.0/24", "192.168.7.0/24"};
  EXPECT_EQ(ssl_replication, networks);
  EXPECT_EQ(ssl_all, networks);
  EXPECT_EQ(plain, (std::vector<std::string>{"all 127.0.0.1/32", "all ::1/128", "replication 127.0.0.1/32",
                                             "replication ::1/128"}));
  s.tls = false;
  EXPECT_THAT(RenderHba(s), Not(HasSubstr("hostssl"))) << "TLS off: as before";
}

TEST(ManagedConf, OneRenderedSettingChangesAndEverythingElseStays) {
  std::string conf = RenderManagedConf(Settings(), MemberEndpoint{"pg-0", "10.0.0.1", 5432}, "ANY 1 (\"pg-2\")");
  std::string updated = WithRenderedSetting(conf, "synchronous_standby_names", "ANY 1 (\"pgpilot_commit_fence\")");
  EXPECT_EQ(RenderedSetting(updated, "synchronous_standby_names"), "ANY 1 (\"pgpilot_commit_fence\")");
  EXPECT_EQ(RenderedSetting(updated, "primary_conninfo"), RenderedSetting(conf, "primary_conninfo"))
      << "a replica keeps following";
  EXPECT_EQ(std::count(updated.begin(), updated.end(), '\n'), std::count(conf.begin(), conf.end(), '\n'));
  std::string appended = WithRenderedSetting("port = 5432\n", "synchronous_standby_names", "it's");
  EXPECT_EQ(appended, "port = 5432\nsynchronous_standby_names = 'it''s'\n");
  EXPECT_EQ(RenderedSetting(appended, "synchronous_standby_names"), "it's");
}

}  // namespace
}  // namespace pgpilot
