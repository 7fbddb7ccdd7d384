// TLS between members (postgresql.tls, mode verify-ca) on a real 3-node cluster: every replica
// streams over TLS (pg_stat_ssl of the primary's WAL senders), a kill -9 failover still works and
// the old primary rejoins over TLS; pg_hba lets the configured networks in only over TLS, so a
// replication client without TLS from a non-loopback address is refused. The agent refuses to
// start with a key file PostgreSQL would refuse, and says which file and how to fix it.
//
// The members listen on loopback and on this machine's first non-loopback IPv4 address and reach
// each other on the latter, so replication arrives from a network address, through the
// `hostssl` lines. Without such an address they use loopback and only the pg_hba lines are
// checked for the network part (the test says so).
#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <optional>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "agent/config.h"
#include "harness.h"
#include "test_files.h"
#include "platform/files.h"
#include "platform/users.h"
#include "postgres/pg_connection.h"
#include "postgres/settings.h"
#include "support/test_certificates.h"

namespace pgpilot::testing {
namespace {

using ::testing::HasSubstr;
using std::chrono::seconds;

constexpr int kTtl = 4;
constexpr int kNodes = 3;
constexpr const char* kOtherNetwork = "198.51.100.0/24";  // TEST-NET-2: configured, never used

// The first IPv4 address of an interface that is up and not loopback, or "".
std::string NonLoopbackAddress() {
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) return "";
  std::string found;
  for (ifaddrs* a = list; a != nullptr && found.empty(); a = a->ifa_next) {
    if (a->ifa_addr == nullptr || a->ifa_addr->sa_family != AF_INET) continue;
    if ((a->ifa_flags & IFF_UP) == 0 || (a->ifa_flags & IFF_LOOPBACK) != 0) continue;
    char text[INET_ADDRSTRLEN];
    auto* in = reinterpret_cast<sockaddr_in*>(a->ifa_addr);
    if (inet_ntop(AF_INET, &in->sin_addr, text, sizeof text) != nullptr) found = text;
  }
  freeifaddrs(list);
  return found;
}

void WriteText(const std::string& path, const std::string& text, mode_t mode) {
  ASSERT_TRUE(WriteFileAtomic(path, text, mode).ok()) << path;
}


struct HbaEntry {
  std::string type, database, user, address;
};

std::vector<HbaEntry> HbaEntries(const std::string& text) {
  std::vector<HbaEntry> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream fields(line);
    HbaEntry e;
    fields >> e.type >> e.database >> e.user;
    if (e.type != "local") fields >> e.address;
    out.push_back(e);
  }
  return out;
}

// A cluster directory in the layout of `pgpilot up` whose agent configs this test writes itself
// (TLS, listen addresses, allowed networks), so the harness's up/ctl/kill work on it unchanged.
class TlsCluster {
 public:
  explicit TlsCluster(int nodes = kNodes) : nodes_(nodes), cluster_(nodes, kTtl) {}

  // Certificates, secrets and one agent.yaml per member; `key_mode` for every member's key. With
  // `foreign_ca_for_last`, the last member has a certificate of another CA and trusts only that
  // one: whichever member leads, the other cannot verify it.
  void Write(const std::string& member_address, mode_t key_mode = 0600,
             bool foreign_ca_for_last = false) {
    ASSERT_NE(cluster_.base_port(), 0) << "no free ports";
    const std::string& dir = cluster_.dir();
    std::string tls_dir = dir + "/tls";
    ASSERT_TRUE(EnsureDirectory(tls_dir, 0700).ok());
    auto certs = MakeTestCertificates(tls_dir, Runner());
    ASSERT_TRUE(certs.ok()) << certs.error().ToString();
    certs_ = *certs;
    ASSERT_EQ(chmod(certs_.server_key.c_str(), key_mode), 0);
    for (const std::string& pem : {certs_.ca, certs_.server_cert}) ASSERT_EQ(chmod(pem.c_str(), 0644), 0);
    std::optional<TestCertificates> foreign;
    if (foreign_ca_for_last) {
      ASSERT_TRUE(EnsureDirectory(dir + "/tls-other", 0700).ok());
      auto other = MakeTestCertificates(dir + "/tls-other", Runner());
      ASSERT_TRUE(other.ok()) << other.error().ToString();
      foreign = *other;
      ASSERT_EQ(chmod(foreign->server_key.c_str(), key_mode), 0);
    }

    std::string secrets = dir + "/secrets";
    ASSERT_TRUE(EnsureDirectory(secrets, 0700).ok());
    std::string superuser_password = RandomTestSecret();
    std::string replication_password = RandomTestSecret();
    WriteText(secrets + "/superuser-password", superuser_password + "\n", 0600);
    WriteText(secrets + "/replication-password", replication_password + "\n", 0600);
    // The harness's psql credentials, and a replication client's.
    WriteText(dir + "/pgpass", PgpassLine("postgres", superuser_password), 0600);
    WriteText(dir + "/replpass", PgpassLine("replicator", replication_password), 0600);

    address_ = member_address.empty() ? "127.0.0.1" : member_address;
    for (int i = 0; i < nodes_; ++i) {
      AgentConfig c;
      c.cluster = "tls";
      c.name = "pg-" + std::to_string(i);
      c.state_dir = dir + "/" + c.name;
      c.data_dir = c.state_dir + "/data";
      c.run_as = "postgres";
      c.ttl = Duration(kTtl * 1000);
      c.loop_wait = Duration(1000);
      c.store.sqlite_path = dir + "/store.db";
      c.api_listen = {"127.0.0.1", cluster_.base_port() + 100 + i};
      c.api_connect = c.api_listen;
      c.pg_listen = member_address.empty() ? "127.0.0.1" : "127.0.0.1," + member_address;
      c.pg_connect_host = address_;
      c.pg_port = cluster_.pg_port(i);
      c.pg_log_file = c.state_dir + "/postgres.log";
      c.allowed_networks = {kOtherNetwork};
      if (!member_address.empty()) c.allowed_networks.push_back(member_address + "/32");
      c.superuser_password_file = secrets + "/superuser-password";
      c.replication_password_file = secrets + "/replication-password";
      c.pg_tls = PgTls{PgTlsMode::kVerifyCa, certs_.server_cert, certs_.server_key, certs_.ca};
      if (foreign && i == nodes_ - 1) {
        c.pg_tls = PgTls{PgTlsMode::kVerifyCa, foreign->server_cert, foreign->server_key, foreign->ca};
      }
      ASSERT_TRUE(EnsureDirectory(c.state_dir, 0700).ok());
      std::string yaml = RenderAgentConfig(c);
      ASSERT_TRUE(ParseAgentConfig(yaml, "generated").ok()) << yaml;
      WriteText(c.state_dir + "/agent.yaml", yaml, 0600);
    }
    GiveToPostgresUser(dir);
  }

  LocalClusterUnderTest& cluster() { return cluster_; }
  const TestCertificates& certs() const { return certs_; }
  const std::string& address() const { return address_; }

  // A connection to member `index` on `host` as `user`, with extra libpq settings; the error's
  // message on failure.
  Result<PgConnection> Connect(int index, const std::string& host, const std::string& user,
                               const std::string& extra) {
    std::string passfile = cluster_.dir() + (user == "replicator" ? "/replpass" : "/pgpass");
    return PgConnection::Connect("host=" + host + " port=" + std::to_string(cluster_.pg_port(index)) +
                                 " user=" + user + " dbname=postgres connect_timeout=5 passfile=" +
                                 passfile + " " + extra);
  }

  // The primary's WAL senders to members as "application_name ssl" (e.g. "pg-1 true"), sorted
  // (not the commit fence's own connection, when it is on).
  std::vector<std::string> WalSendersTls(int primary_port) {
    auto rows = cluster_.Sql(primary_port,
                             "SELECT r.application_name || ' ' || s.ssl::text FROM pg_stat_replication r "
                             "JOIN pg_stat_ssl s ON s.pid = r.pid WHERE r.state = 'streaming' "
                             "AND r.application_name LIKE 'pg-%' ORDER BY 1");
    return rows ? *rows : std::vector<std::string>{};
  }

 private:
  static std::string RandomTestSecret() {
    std::ifstream urandom("/dev/urandom", std::ios::binary);
    std::string out;
    while (out.size() < 24) {
      char c = static_cast<char>(urandom.get());
      if (std::isalnum(static_cast<unsigned char>(c))) out += c;
    }
    return out;
  }

  int nodes_;
  LocalClusterUnderTest cluster_;
  TestCertificates certs_;
  std::string address_;
};

std::vector<std::string> ExpectedTlsSenders(const std::string& primary) {
  std::vector<std::string> out;
  for (int i = 0; i < kNodes; ++i) {
    std::string name = "pg-" + std::to_string(i);
    if (name != primary) out.push_back(name + " true");
  }
  return out;
}

int IndexOf(const std::string& member) { return std::stoi(member.substr(3)); }

TEST(PgTls, ReplicasStreamOverVerifiedTlsFailoverAndRejoinStayOnTls) {
  std::string address = NonLoopbackAddress();
  if (address.empty()) {
    std::cout << "[ note ] no non-loopback IPv4 address here: members use loopback, and the refusal "
                 "of non-TLS clients from the network is checked in pg_hba only\n";
  }
  TlsCluster tls;
  ASSERT_NO_FATAL_FAILURE(tls.Write(address));
  LocalClusterUnderTest& cluster = tls.cluster();
  CommandResult up = cluster.Up();
  ASSERT_EQ(up.exit_code, 0) << up.output;
  ASSERT_TRUE(WaitUntil([&] { return cluster.Converged(kNodes); }, seconds(60))) << cluster.ListJson().dump(2);
  auto primary = cluster.Primary();
  ASSERT_TRUE(primary.has_value());

  // Every member runs with ssl on and the configured files; replicas follow with verify-ca.
  for (int i = 0; i < kNodes; ++i) {
    std::string name = "pg-" + std::to_string(i);
    auto ssl = cluster.Sql(cluster.pg_port(i),
                           "SELECT current_setting('ssl') || ' ' || current_setting('ssl_ca_file')");
    ASSERT_TRUE(ssl.has_value()) << name;
    EXPECT_EQ((*ssl)[0], "on " + tls.certs().ca) << name;
    if (name == primary->name) continue;
    std::string conf = cluster.ReadMemberFile(name, "data/pgpilot.conf");
    std::string conninfo = RenderedSetting(conf, "primary_conninfo").value_or("");
    EXPECT_THAT(conninfo, HasSubstr("sslmode=verify-ca")) << name;
    EXPECT_THAT(conninfo, HasSubstr("sslrootcert=" + tls.certs().ca)) << name;
  }

  // Both replicas' WAL senders on the primary are TLS connections, from the network address.
  std::vector<std::string> senders;
  EXPECT_TRUE(WaitUntil([&] {
    return (senders = tls.WalSendersTls(primary->port)) == ExpectedTlsSenders(primary->name);
  }, seconds(30))) << ::testing::PrintToString(senders);
  auto from = cluster.Sql(primary->port,
                          "SELECT DISTINCT coalesce(host(client_addr), 'socket') FROM pg_stat_replication "
                          "WHERE application_name LIKE 'pg-%'");
  ASSERT_TRUE(from.has_value());
  EXPECT_EQ(*from, std::vector<std::string>{tls.address()}) << "replicas connect to the members' connect address";

  // pg_hba: loopback may connect without TLS; every configured network only with it, and only
  // the replication user may replicate.
  for (int i = 0; i < kNodes; ++i) {
    std::string name = "pg-" + std::to_string(i);
    std::vector<std::string> ssl_replication;
    for (const auto& e : HbaEntries(cluster.ReadMemberFile(name, "data/pg_hba.conf"))) {
      if (e.type == "local") continue;
      bool loopback = e.address == "127.0.0.1/32" || e.address == "::1/128";
      EXPECT_EQ(e.type, loopback ? "host" : "hostssl") << name << ": " << e.database << " from " << e.address;
      if (e.database == "replication") {
        EXPECT_EQ(e.user, "\"replicator\"");
        if (!loopback) ssl_replication.push_back(e.address);
      }
    }
    std::vector<std::string> networks = {kOtherNetwork};
    if (!address.empty()) networks.push_back(address + "/32");
    EXPECT_EQ(ssl_replication, networks) << name;
  }

  // Live: from the network address, replication (and any connection) needs TLS; the same client
  // with verify-ca gets in, so the refusal is the missing TLS and nothing else.
  int p = IndexOf(primary->name);
  if (!address.empty()) {
    auto plain = tls.Connect(p, address, "replicator", "replication=true sslmode=disable");
    ASSERT_FALSE(plain.ok()) << "a replication connection without TLS from " << address << " was accepted";
    EXPECT_THAT(plain.error().message, HasSubstr("no pg_hba.conf entry"));
    EXPECT_THAT(plain.error().message, HasSubstr("no encryption"));
    auto plain_sql = tls.Connect(p, address, "postgres", "sslmode=disable");
    EXPECT_FALSE(plain_sql.ok()) << "a superuser connection without TLS from the network was accepted";
    auto verified = tls.Connect(p, address, "replicator",
                                "replication=true sslmode=verify-ca sslrootcert=" + tls.certs().ca);
    EXPECT_TRUE(verified.ok()) << verified.error().ToString();
  }
  auto loopback = tls.Connect(p, "127.0.0.1", "postgres", "sslmode=disable");
  EXPECT_TRUE(loopback.ok()) << "loopback stays `host`: " << loopback.error().ToString();

  // kill -9 of the primary: another member takes over; the old one rejoins, streaming over TLS.
  auto takeover = cluster.KillAndAwaitTakeover(*primary, "CREATE TABLE IF NOT EXISTS after_failover (id int)");
  ASSERT_TRUE(takeover.new_primary.has_value()) << takeover.failure << "\n" << cluster.ListJson().dump(2);
  std::string error;
  ASSERT_TRUE(cluster.SqlOnPrimary("INSERT INTO after_failover VALUES (1)", &error)) << error;
  CommandResult rejoin = cluster.Up();
  ASSERT_EQ(rejoin.exit_code, 0) << rejoin.output;
  ASSERT_TRUE(WaitUntil([&] { return cluster.Converged(kNodes); }, seconds(90))) << cluster.ListJson().dump(2);
  auto new_primary = cluster.Primary();
  ASSERT_TRUE(new_primary.has_value());
  EXPECT_NE(new_primary->name, primary->name);
  EXPECT_TRUE(WaitUntil([&] {
    return (senders = tls.WalSendersTls(new_primary->port)) == ExpectedTlsSenders(new_primary->name);
  }, seconds(30))) << ::testing::PrintToString(senders) << " (the old primary " << primary->name
                   << " must be among them)";
  EXPECT_TRUE(WaitUntil([&] {
    auto rows = cluster.Sql(primary->port, "SELECT count(*) FROM after_failover");
    return rows && !rows->empty() && (*rows)[0] == "1";
  }, seconds(30))) << "the old primary replays the new primary's writes";
}

TEST(PgTls, AMemberThatCannotVerifyTheLeadersCertificateDoesNotCloneFromIt) {
  // pg-0 and pg-1 have certificates of different CAs and each trusts only its own: verify-ca
  // makes the clone of whichever did not bootstrap fail before pg_basebackup copies anything
  // (with sslmode=require it would clone and stream, unverified).
  TlsCluster tls(2);
  ASSERT_NO_FATAL_FAILURE(tls.Write("", 0600, /*foreign_ca_for_last=*/true));
  LocalClusterUnderTest& cluster = tls.cluster();
  CommandResult up = cluster.Up(/*timeout_seconds=*/30);  // waits 20 s for a health that never comes
  EXPECT_NE(up.exit_code, 0) << up.output;
  auto leader = cluster.Primary();
  ASSERT_TRUE(leader.has_value()) << cluster.ListJson().dump(2);
  std::string other = leader->name == "pg-0" ? "pg-1" : "pg-0";
  EXPECT_THAT(cluster.ReadMemberFile(other, "agent.log"), HasSubstr("certificate verify failed"));
  EXPECT_FALSE(PathExists(cluster.dir() + "/" + other + "/data/PG_VERSION")) << "nothing was cloned";
}

TEST(PgTls, UpWithPgTlsMakesAClusterWhoseReplicasStreamOverTls) {
  // The files as an operator has them: the key readable by root only. `up` reads them before it
  // becomes the cluster's user and writes copies that user owns.
  TempDir certs_dir("pgpilot-it-certs");
  auto certs = MakeTestCertificates(certs_dir.path(), Runner());
  ASSERT_TRUE(certs.ok()) << certs.error().ToString();
  ASSERT_EQ(rename(certs->server_cert.c_str(), (certs_dir.path() + "/cert.pem").c_str()), 0);
  ASSERT_EQ(rename(certs->server_key.c_str(), (certs_dir.path() + "/key.pem").c_str()), 0);

  LocalClusterUnderTest cluster(2, kTtl, "", {"--pg-tls", certs_dir.path()});
  CommandResult up = cluster.Up();
  ASSERT_EQ(up.exit_code, 0) << up.output;
  ASSERT_TRUE(WaitUntil([&] { return cluster.Converged(2); }, seconds(60))) << cluster.ListJson().dump(2);
  auto primary = cluster.Primary();
  ASSERT_TRUE(primary.has_value());
  std::string replica = primary->name == "pg-0" ? "pg-1" : "pg-0";
  std::vector<std::string> senders;
  EXPECT_TRUE(WaitUntil([&] {
    auto rows = cluster.Sql(primary->port,
                            "SELECT r.application_name || ' ' || s.ssl::text FROM pg_stat_replication r "
                            "JOIN pg_stat_ssl s ON s.pid = r.pid WHERE r.application_name LIKE 'pg-%'");
    return rows && (senders = *rows) == std::vector<std::string>{replica + " true"};
  }, seconds(30))) << ::testing::PrintToString(senders);
  auto config = LoadAgentConfig(cluster.dir() + "/" + replica + "/agent.yaml");
  ASSERT_TRUE(config.ok()) << config.error().ToString();
  EXPECT_EQ(config->pg_tls.mode, PgTlsMode::kVerifyCa);
  EXPECT_EQ(config->pg_tls.key_file, cluster.dir() + "/tls/key.pem");
  struct stat st{};
  ASSERT_EQ(stat(config->pg_tls.key_file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  if (geteuid() == 0) {
    EXPECT_NE(st.st_uid, 0u) << "the copy belongs to the cluster's user";
  }
}

TEST(PgTls, AgentRefusesAKeyPostgresqlWouldRefuseAndNamesTheFix) {
  TlsCluster tls;
  ASSERT_NO_FATAL_FAILURE(tls.Write("", 0644));
  std::string config = tls.cluster().dir() + "/pg-0/agent.yaml";
  CommandResult run = RunPgpilot({"agent", "--config", config}, 60);
  EXPECT_EQ(run.exit_code, 2) << run.output;
  EXPECT_THAT(run.output, HasSubstr("postgresql.tls.key_file " + tls.certs().server_key));
  EXPECT_THAT(run.output, HasSubstr("0644"));
  EXPECT_THAT(run.output, HasSubstr("chmod 600 " + tls.certs().server_key));
  EXPECT_FALSE(PathExists(tls.cluster().dir() + "/pg-0/data/PG_VERSION")) << "nothing was started";
}

}  // namespace
}  // namespace pgpilot::testing
