#include "agent/config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

namespace pgpilot {
namespace {

using ::testing::HasSubstr;

const char* kFile = "/etc/pgpilot/pg-1.yaml";

const char* kFullConfig = R"(cluster: orders
name: pg-1
data_dir: /var/lib/pgpilot/pg-1/data
state_dir: /var/lib/pgpilot/state-1
run_as: pgowner
ttl: 6
loop_wait: 0.5
maximum_lag_on_failover: 2097152
synchronous_mode: strict
synchronous_node_count: 2
tags:
  nofailover: true
  nosync: true
  noloadbalance: true
  clonefrom: true
store:
  sqlite: /var/lib/pgpilot/store.db
api:
  listen: 0.0.0.0:8009
  connect_address: 10.0.0.5:8010
postgresql:
  bin_dir: /usr/lib/postgresql/15/bin
  listen: "*"
  port: 5433
  connect_address: 10.0.0.5
  socket_dir: /var/run/pgpilot
  log_file: /var/log/pgpilot/pg-1.log
  allowed_networks: [10.0.0.0/24, 192.168.1.0/24]
  superuser:
    username: admin
    password_file: /etc/pgpilot/superuser
  replication:
    username: repl
    password_file: /etc/pgpilot/replication
  parameters:
    shared_buffers: 256MB
    max_connections: 200
    log_line_prefix: '%m [%p] '
log:
  format: json
  level: debug
)";

const char* kMinimalConfig = R"(cluster: orders
name: pg-1
data_dir: /srv/pg-1/data
store:
  sqlite: /srv/store.db
postgresql:
  superuser:
    password_file: /etc/pgpilot/superuser
  replication:
    password_file: /etc/pgpilot/replication
)";

AgentConfig MustParse(const std::string& text) {
  auto c = ParseAgentConfig(text, kFile);
  EXPECT_TRUE(c.ok()) << c.error().ToString() << "\n" << text;
  return c.ok() ? *c : AgentConfig{};
}

void ExpectSameConfig(const AgentConfig& a, const AgentConfig& b) {
  EXPECT_EQ(a.cluster, b.cluster);
  EXPECT_EQ(a.name, b.name);
  EXPECT_EQ(a.data_dir, b.data_dir);
  EXPECT_EQ(a.state_dir, b.state_dir);
  EXPECT_EQ(a.run_as, b.run_as);
  EXPECT_EQ(a.ttl, b.ttl);
  EXPECT_EQ(a.loop_wait, b.loop_wait);
  EXPECT_EQ(a.maximum_lag_on_failover, b.maximum_lag_on_failover);
  EXPECT_EQ(a.tags, b.tags);
  EXPECT_EQ(a.store.sqlite_path, b.store.sqlite_path);
  EXPECT_EQ(a.api_listen.ToString(), b.api_listen.ToString());
  EXPECT_EQ(a.api_connect.ToString(), b.api_connect.ToString());
  EXPECT_EQ(a.api_tls.cert_file, b.api_tls.cert_file);
  EXPECT_EQ(a.api_tls.key_file, b.api_tls.key_file);
  EXPECT_EQ(a.api_tls.client_ca_file, b.api_tls.client_ca_file);
  EXPECT_EQ(a.api_tls.ca_file, b.api_tls.ca_file);
  EXPECT_EQ(a.api_auth.token_file, b.api_auth.token_file);
  EXPECT_EQ(a.api_auth.username, b.api_auth.username);
  EXPECT_EQ(a.api_auth.password_file, b.api_auth.password_file);
  EXPECT_EQ(a.bin_dir, b.bin_dir);
  EXPECT_EQ(a.pg_listen, b.pg_listen);
  EXPECT_EQ(a.pg_port, b.pg_port);
  EXPECT_EQ(a.pg_connect_host, b.pg_connect_host);
  EXPECT_EQ(a.socket_dir, b.socket_dir);
  EXPECT_EQ(a.pg_log_file, b.pg_log_file);
  EXPECT_EQ(a.allowed_networks, b.allowed_networks);
  EXPECT_EQ(a.superuser, b.superuser);
  EXPECT_EQ(a.superuser_password_file, b.superuser_password_file);
  EXPECT_EQ(a.replication_user, b.replication_user);
  EXPECT_EQ(a.replication_password_file, b.replication_password_file);
  EXPECT_EQ(a.pg_tls.mode, b.pg_tls.mode);
  EXPECT_EQ(a.pg_tls.cert_file, b.pg_tls.cert_file);
  EXPECT_EQ(a.pg_tls.key_file, b.pg_tls.key_file);
  EXPECT_EQ(a.pg_tls.ca_file, b.pg_tls.ca_file);
  EXPECT_EQ(a.parameters, b.parameters);
  EXPECT_EQ(a.log_format, b.log_format);
  EXPECT_EQ(a.log_level, b.log_level);
}

// Replaces the first occurrence of `from` in the minimal config (which must hold it).
std::string Minimal(const std::string& from, const std::string& to) {
  std::string text = kMinimalConfig;
  size_t at = text.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  if (at != std::string::npos) text.replace(at, from.size(), to);
  return text;
}

// Parses `text`, expects an InvalidArgument whose message holds every one of `words` and a hint.
Error ExpectError(const std::string& text, std::initializer_list<std::string> words) {
  auto c = ParseAgentConfig(text, kFile);
  EXPECT_FALSE(c.ok()) << "accepted:\n" << text;
  if (c.ok()) return Error{};
  EXPECT_EQ(c.error().code, ErrorCode::kInvalidArgument);
  EXPECT_THAT(c.error().message, HasSubstr(kFile)) << "the message names the file";
  for (const auto& w : words) EXPECT_THAT(c.error().message, HasSubstr(w)) << text;
  EXPECT_FALSE(c.error().hint.empty()) << c.error().message;
  return c.error();
}

// ---------------------------------------------------------------------------------------------

TEST(AgentConfig, FullConfigParsesEveryField) {
  AgentConfig c = MustParse(kFullConfig);
  EXPECT_EQ(c.source_file, kFile);
  EXPECT_EQ(c.cluster, "orders");
  EXPECT_EQ(c.name, "pg-1");
  EXPECT_EQ(c.data_dir, "/var/lib/pgpilot/pg-1/data");
  EXPECT_EQ(c.state_dir, "/var/lib/pgpilot/state-1");
  EXPECT_EQ(c.run_as, "pgowner");
  EXPECT_EQ(c.ttl, Duration(6000));
  EXPECT_EQ(c.loop_wait, Duration(500));
  EXPECT_EQ(c.maximum_lag_on_failover, 2097152u);
  EXPECT_TRUE(c.tags.nofailover);
  EXPECT_TRUE(c.tags.nosync);
  EXPECT_TRUE(c.tags.noloadbalance);
  EXPECT_TRUE(c.tags.clonefrom);
  EXPECT_EQ(c.synchronous_mode, SyncMode::kStrict);
  EXPECT_EQ(c.synchronous_node_count, 2);
  EXPECT_EQ(c.store.sqlite_path, "/var/lib/pgpilot/store.db");
  EXPECT_EQ(c.api_listen.host, "0.0.0.0");
  EXPECT_EQ(c.api_listen.port, 8009);
  EXPECT_EQ(c.api_connect.host, "10.0.0.5");
  EXPECT_EQ(c.api_connect.port, 8010);
  EXPECT_EQ(c.ApiUrl(), "http://10.0.0.5:8010");
  EXPECT_EQ(c.bin_dir, "/usr/lib/postgresql/15/bin");
  EXPECT_EQ(c.pg_listen, "*");
  EXPECT_EQ(c.pg_port, 5433);
  EXPECT_EQ(c.pg_connect_host, "10.0.0.5");
  EXPECT_EQ(c.socket_dir, "/var/run/pgpilot");
  EXPECT_EQ(c.pg_log_file, "/var/log/pgpilot/pg-1.log");
  EXPECT_EQ(c.allowed_networks, (std::vector<std::string>{"10.0.0.0/24", "192.168.1.0/24"}));
  EXPECT_EQ(c.superuser, "admin");
  EXPECT_EQ(c.superuser_password_file, "/etc/pgpilot/superuser");
  EXPECT_EQ(c.replication_user, "repl");
  EXPECT_EQ(c.replication_password_file, "/etc/pgpilot/replication");
  using P = std::pair<std::string, std::string>;
  EXPECT_EQ(c.parameters, (std::vector<P>{{"shared_buffers", "256MB"}, {"max_connections", "200"},
                                          {"log_line_prefix", "%m [%p] "}}))
      << "parameters keep the file's order";
  EXPECT_EQ(c.log_format, LogFormat::kJson);
  EXPECT_EQ(c.log_level, LogLevel::kDebug);
}

TEST(AgentConfig, MinimalConfigGetsTheDocumentedDefaults) {
  AgentConfig c = MustParse(kMinimalConfig);
  EXPECT_EQ(c.state_dir, "/srv/pg-1") << "default: the data directory's parent";
  EXPECT_EQ(c.run_as, "postgres");
  EXPECT_EQ(c.ttl, Duration(10000));
  EXPECT_EQ(c.loop_wait, Duration(1000));
  EXPECT_EQ(c.maximum_lag_on_failover, 1024u * 1024u);
  EXPECT_FALSE(c.tags.nofailover);
  EXPECT_FALSE(c.tags.nosync);
  EXPECT_EQ(c.synchronous_mode, SyncMode::kOff);
  EXPECT_EQ(c.synchronous_node_count, 1);
  EXPECT_EQ(c.api_listen.ToString(), "127.0.0.1:8008");
  EXPECT_EQ(c.api_connect.ToString(), "127.0.0.1:8008");
  EXPECT_EQ(c.pg_listen, "127.0.0.1");
  EXPECT_EQ(c.pg_port, 5432);
  EXPECT_EQ(c.pg_connect_host, "127.0.0.1");
  EXPECT_EQ(c.pg_log_file, "/srv/pg-1/postgres.log");
  EXPECT_EQ(c.superuser, "postgres");
  EXPECT_EQ(c.replication_user, "replicator");
  EXPECT_TRUE(c.allowed_networks.empty());
  EXPECT_TRUE(c.parameters.empty());
  EXPECT_EQ(c.log_format, LogFormat::kText);
  EXPECT_EQ(c.log_level, LogLevel::kInfo);
}

TEST(AgentConfig, ApiConnectDefaultsToListen) {
  AgentConfig c = MustParse(std::string(kMinimalConfig) + "api:\n  listen: 127.0.0.1:9100\n");
  EXPECT_EQ(c.api_connect.ToString(), "127.0.0.1:9100");
  EXPECT_EQ(c.ApiUrl(), "http://127.0.0.1:9100");
}

TEST(AgentConfig, TrailingSlashOnDataDirStillDefaultsStateDirToTheParent) {
  AgentConfig c = MustParse(Minimal("data_dir: /srv/pg-1/data", "data_dir: /srv/pg-1/data/"));
  EXPECT_EQ(c.state_dir, "/srv/pg-1") << "the state directory must never be the data directory";
  EXPECT_NE(c.pg_log_file.rfind("/srv/pg-1/data/", 0), 0u) << c.pg_log_file;
}

TEST(AgentConfig, RenderedFullConfigParsesBackToTheSameConfig) {
  AgentConfig original = MustParse(kFullConfig);
  std::string yaml = RenderAgentConfig(original);
  auto back = ParseAgentConfig(yaml, "rendered.yaml");
  ASSERT_TRUE(back.ok()) << back.error().ToString() << "\n" << yaml;
  ExpectSameConfig(*back, original);
}

TEST(AgentConfig, RenderedMinimalConfigParsesBackToTheSameConfig) {
  AgentConfig original = MustParse(kMinimalConfig);
  std::string yaml = RenderAgentConfig(original);
  auto back = ParseAgentConfig(yaml, "rendered.yaml");
  ASSERT_TRUE(back.ok()) << back.error().ToString() << "\n" << yaml;
  ExpectSameConfig(*back, original);
}

TEST(AgentConfig, RenderedConfigKeepsAwkwardValuesAndFractionalSeconds) {
  AgentConfig c = MustParse(kMinimalConfig);
  c.ttl = Duration(2300);
  c.loop_wait = Duration(100);
  c.data_dir = "/srv/my data/#1: pg";
  c.state_dir = "/srv/my data";
  c.pg_log_file = "/srv/my data/postgres.log";
  c.superuser_password_file = "/etc/secret: 'quoted' \"dq\"";
  c.parameters = {{"search_path", "\"$user\", public"}, {"log_line_prefix", "%m: [%p] # "},
                  {"work_mem", "64MB"}, {"jit", "off"}};
  std::string yaml = RenderAgentConfig(c);
  auto back = ParseAgentConfig(yaml, "rendered.yaml");
  ASSERT_TRUE(back.ok()) << back.error().ToString() << "\n" << yaml;
  ExpectSameConfig(*back, c);
}

TEST(AgentConfig, LoadReadsAFileAndNamesAMissingOne) {
  auto missing = LoadAgentConfig("/nonexistent/pgpilot-agent.yaml");
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(missing.error().message, HasSubstr("/nonexistent/pgpilot-agent.yaml"));
  EXPECT_THAT(missing.error().hint, HasSubstr("--config"));
}

// ---------------------------------------------------------------------------------------------
// errors

TEST(AgentConfig, MalformedYamlIsReportedWithWhere) {
  Error e = ExpectError("cluster: orders\nname: [pg-1\ndata_dir: /x\n", {"not valid YAML"});
  EXPECT_THAT(e.message, HasSubstr("line"));
  ExpectError("cluster: orders\n  name: pg-1\n bad indentation: [\n", {"not valid YAML"});
  ExpectError("cluster: orders\nname: pg-1\n- item\n", {"not valid YAML"});
  ExpectError("cluster: orders\nname: {a: b\n", {"not valid YAML"});
}

TEST(AgentConfig, TopLevelMustBeAMapping) {
  ExpectError("- cluster\n- name\n", {"mapping"});
  ExpectError("just a string\n", {"mapping"});
  ExpectError("", {"mapping"});
}

TEST(AgentConfig, UnknownKeysAreNamedWithTheAllowedOnes) {
  Error e = ExpectError(std::string(kMinimalConfig) + "ttll: 5\n", {"unknown key 'ttll'"});
  EXPECT_THAT(e.hint, HasSubstr("ttl"));
  EXPECT_THAT(e.hint, HasSubstr("loop_wait"));

  e = ExpectError(Minimal("postgresql:\n", "postgresql:\n  prot: 5433\n"), {"unknown key 'postgresql.prot'"});
  EXPECT_THAT(e.hint, HasSubstr("port"));

  e = ExpectError(Minimal("    password_file: /etc/pgpilot/superuser",
                          "    password_file: /etc/pgpilot/superuser\n    pasword: x"),
                  {"'postgresql.superuser.pasword'"});
  EXPECT_THAT(e.hint, HasSubstr("password_file"));

  ExpectError(Minimal("store:\n", "store:\n  etcd: http://127.0.0.1:2379\n"), {"'store.etcd'"});
  ExpectError(std::string(kMinimalConfig) + "tags:\n  priority: 1\n", {"'tags.priority'"});
  ExpectError(std::string(kMinimalConfig) + "api:\n  port: 8008\n", {"'api.port'"});
  ExpectError(std::string(kMinimalConfig) + "log:\n  colour: true\n", {"'log.colour'"});
}

TEST(AgentConfig, WrongTypesAreNamed) {
  struct Case {
    std::string from, to;
    std::vector<std::string> words;
  };
  const std::vector<Case> cases = {
      {"cluster: orders", "cluster: [orders]", {"'cluster'", "string"}},
      {"name: pg-1", "name: {a: b}", {"'name'", "string"}},
      {"data_dir: /srv/pg-1/data", "data_dir: relative/data", {"'data_dir'", "absolute"}},
      {"name: pg-1", "name: pg-1\nttl: ten", {"'ttl'", "seconds", "'ten'"}},
      {"name: pg-1", "name: pg-1\nttl: 1e400", {"'ttl'"}},
      {"name: pg-1", "name: pg-1\nttl: .nan", {"'ttl'"}},
      {"name: pg-1", "name: pg-1\nloop_wait: [1]", {"'loop_wait'"}},
      {"name: pg-1", "name: pg-1\nmaximum_lag_on_failover: -1", {"'maximum_lag_on_failover'", "'-1'"}},
      {"name: pg-1", "name: pg-1\nmaximum_lag_on_failover: 1MB", {"'maximum_lag_on_failover'", "'1MB'"}},
      {"name: pg-1", "name: pg-1\ntags:\n  nofailover: maybe", {"'tags.nofailover'", "true or false", "'maybe'"}},
      {"name: pg-1", "name: pg-1\nsynchronous_mode: always", {"'synchronous_mode'", "off, on or strict", "'always'"}},
      {"name: pg-1", "name: pg-1\nsynchronous_node_count: 0", {"'synchronous_node_count'", "1 to 16"}},
      {"name: pg-1", "name: pg-1\ntags: [nofailover]", {"'tags'", "mapping"}},
      {"store:\n  sqlite: /srv/store.db", "store: /srv/store.db", {"'store'", "mapping"}},
      {"sqlite: /srv/store.db", "sqlite: [/srv/store.db]", {"'store.sqlite'", "string"}},
      {"postgresql:\n", "postgresql:\n  port: abc\n", {"'postgresql.port'", "integer", "'abc'"}},
      {"postgresql:\n", "postgresql:\n  port: 70000\n", {"'postgresql.port'", "65535"}},
      {"postgresql:\n", "postgresql:\n  port: 0\n", {"'postgresql.port'"}},
      {"postgresql:\n", "postgresql:\n  allowed_networks: 10.0.0.0/8\n", {"'postgresql.allowed_networks'", "list"}},
      {"postgresql:\n", "postgresql:\n  allowed_networks: [[10.0.0.0/8]]\n", {"'postgresql.allowed_networks'"}},
      {"postgresql:\n", "postgresql:\n  parameters: [a, b]\n", {"'postgresql.parameters'", "mapping"}},
      {"postgresql:\n", "postgresql:\n  parameters:\n    work_mem: [1, 2]\n",
       {"'postgresql.parameters.work_mem'", "single value"}},
      {"  superuser:\n", "  superuser: admin\n  x:\n", {"'postgresql.superuser'", "mapping"}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.to);
    auto text = Minimal(c.from, c.to);
    auto parsed = ParseAgentConfig(text, kFile);
    ASSERT_FALSE(parsed.ok()) << text;
    EXPECT_EQ(parsed.error().code, ErrorCode::kInvalidArgument);
    for (const auto& w : c.words) EXPECT_THAT(parsed.error().message, HasSubstr(w));
    EXPECT_FALSE(parsed.error().hint.empty());
  }
}

TEST(AgentConfig, InvalidNamesAreRefused) {
  const std::vector<std::string> bad_names = {"PG-1", "pg_1", "-pg", "pg-", "pg.1", "pg 1", "pgé",
                                              std::string(64, 'a')};
  for (const std::string& bad : bad_names) {
    SCOPED_TRACE(bad);
    ExpectError(Minimal("name: pg-1", "name: \"" + bad + "\""), {"'name'", "a-z", bad});
    ExpectError(Minimal("cluster: orders", "cluster: \"" + bad + "\""), {"'cluster'", bad});
  }
  EXPECT_TRUE(IsValidName(std::string(63, 'a')));
  EXPECT_TRUE(IsValidName("pg-0"));
  EXPECT_TRUE(IsValidName("0"));
  EXPECT_FALSE(IsValidName(""));
}

TEST(AgentConfig, MissingRequiredKeysAreNamed) {
  ExpectError(Minimal("cluster: orders\n", ""), {"'cluster'", "required"});
  ExpectError(Minimal("name: pg-1\n", ""), {"'name'", "required"});
  ExpectError(Minimal("data_dir: /srv/pg-1/data\n", ""), {"'data_dir'", "required"});
  ExpectError(Minimal("name: pg-1", "name: \"\""), {"'name'"});
  ExpectError(Minimal("data_dir: /srv/pg-1/data", "data_dir:"), {"'data_dir'"});
  ExpectError(Minimal("store:\n  sqlite: /srv/store.db\n", ""), {"'store'", "sqlite"});
  ExpectError(Minimal("  superuser:\n    password_file: /etc/pgpilot/superuser\n", ""),
              {"'postgresql.superuser.password_file'", "required"});
  ExpectError(Minimal("    password_file: /etc/pgpilot/replication\n", "    username: repl\n"),
              {"'postgresql.replication.password_file'", "required"});
}

TEST(AgentConfig, StorePathMustBeAbsolute) {
  ExpectError(Minimal("sqlite: /srv/store.db", "sqlite: store.db"), {"'store.sqlite'", "absolute"});
}

TEST(AgentConfig, TtlAndLoopWaitMustFitTogether) {
  ExpectError(Minimal("name: pg-1", "name: pg-1\nttl: 1.5"), {"'ttl'", "at least 2.0s", "'1.5'"});
  ExpectError(Minimal("name: pg-1", "name: pg-1\nttl: -10"), {"'ttl'"});
  ExpectError(Minimal("name: pg-1", "name: pg-1\nttl: 100000"), {"'ttl'"});
  ExpectError(Minimal("name: pg-1", "name: pg-1\nloop_wait: 0.05"), {"'loop_wait'", "at least 0.1s"});
  ExpectError(Minimal("name: pg-1", "name: pg-1\nttl: 4\nloop_wait: 2.5"),
              {"'loop_wait'", "half of ttl", "4.0s"});
  ExpectError(Minimal("name: pg-1", "name: pg-1\nloop_wait: 6"), {"'loop_wait'", "10.0s"});

  AgentConfig edge = MustParse(Minimal("name: pg-1", "name: pg-1\nttl: 2\nloop_wait: 1"));
  EXPECT_EQ(edge.ttl, Duration(2000));
  EXPECT_EQ(edge.loop_wait, Duration(1000));
}

TEST(AgentConfig, PostgresqlRelationsAreChecked) {
  ExpectError(Minimal("postgresql:\n", "postgresql:\n  listen: \"*\"\n"),
              {"'postgresql.connect_address'", "required"});
  ExpectError(Minimal("postgresql:\n", "postgresql:\n  listen: 127.0.0.1,10.0.0.5\n"),
              {"'postgresql.connect_address'"});
  ExpectError(Minimal("    password_file: /etc/pgpilot/replication\n",
                      "    password_file: /etc/pgpilot/replication\n    username: postgres\n"),
              {"'postgresql.replication.username'", "differ"});
  ExpectError(Minimal("postgresql:\n", "postgresql:\n  parameters:\n    port: 5999\n"),
              {"'postgresql.parameters.port'", "managed by pgpilot"});
  ExpectError(Minimal("postgresql:\n", "postgresql:\n  parameters:\n    primary_conninfo: host=x\n"),
              {"'postgresql.parameters.primary_conninfo'"});
  // The name is written unquoted into PostgreSQL's configuration: no second line through it.
  ExpectError(Minimal("postgresql:\n", "postgresql:\n  parameters:\n    \"work_mem = '1MB'\\nport\": 5999\n"),
              {"not a PostgreSQL parameter name"});
  ExpectError(Minimal("postgresql:\n", "postgresql:\n  parameters:\n    work-mem: 1MB\n"),
              {"'postgresql.parameters.work-mem'", "not a PostgreSQL parameter name"});
}

TEST(AgentConfig, ApiAddressesMustBeHostAndPort) {
  ExpectError(std::string(kMinimalConfig) + "api:\n  listen: \"8008\"\n", {"'api.listen'", "HOST:PORT", "'8008'"});
  ExpectError(std::string(kMinimalConfig) + "api:\n  listen: \":8008\"\n", {"'api.listen'"});
  ExpectError(std::string(kMinimalConfig) + "api:\n  listen: 127.0.0.1:99999\n", {"'api.listen'", "port"});
  ExpectError(std::string(kMinimalConfig) + "api:\n  connect_address: host:x\n", {"'api.connect_address'"});
}

TEST(AgentConfig, LogSettingsAreChecked) {
  ExpectError(std::string(kMinimalConfig) + "log:\n  format: xml\n", {"'log.format'", "text or json"});
  ExpectError(std::string(kMinimalConfig) + "log:\n  level: verbose\n", {"'log.level'", "debug"});
}

}  // namespace
}  // namespace pgpilot

namespace pgpilot {
namespace {

TEST(AgentConfigKubernetes, EmptyMappingSelectsTheInClusterStoreAndRoundTrips) {
  AgentConfig c = MustParse(Minimal("  sqlite: /srv/store.db\n", "  kubernetes: {}\n"));
  EXPECT_TRUE(c.store.is_kubernetes());
  EXPECT_FALSE(c.store.is_etcd());
  EXPECT_TRUE(c.store.sqlite_path.empty());
  EXPECT_TRUE(c.store.kubernetes.label_pod);
  AgentConfig again = MustParse(RenderAgentConfig(c));
  EXPECT_TRUE(again.store.is_kubernetes());
}

TEST(AgentConfigKubernetes, EveryKeyParsesAndRoundTrips) {
  AgentConfig c = MustParse(Minimal("  sqlite: /srv/store.db\n",
                                    "  kubernetes:\n    namespace: db\n    api_server: https://10.96.0.1:443\n"
                                    "    token_file: /t\n    ca_file: /ca\n    kubeconfig: /k\n"
                                    "    label_pod: false\n"));
  const KubernetesConfig& k = c.store.kubernetes;
  EXPECT_EQ(k.namespace_name, "db");
  EXPECT_EQ(k.api_server, "https://10.96.0.1:443");
  EXPECT_EQ(k.token_file, "/t");
  EXPECT_EQ(k.ca_file, "/ca");
  EXPECT_EQ(k.kubeconfig, "/k");
  EXPECT_FALSE(k.label_pod);
  AgentConfig again = MustParse(RenderAgentConfig(c));
  EXPECT_EQ(again.store.kubernetes.namespace_name, "db");
  EXPECT_EQ(again.store.kubernetes.kubeconfig, "/k");
  EXPECT_FALSE(again.store.kubernetes.label_pod);
}

TEST(AgentConfigKubernetes, TwoStoresOrABadServerAreRefused) {
  ExpectError(Minimal("  sqlite: /srv/store.db\n", "  sqlite: /srv/store.db\n  kubernetes: {}\n"),
              {"store", "one store"});
  ExpectError(Minimal("  sqlite: /srv/store.db\n", "  kubernetes: {api_server: 10.96.0.1}\n"),
              {"store.kubernetes.api_server", "URL"});
  ExpectError(Minimal("  sqlite: /srv/store.db\n", "  kubernetes: {namespaces: x}\n"),
              {"store.kubernetes.namespaces"});
}

TEST(AgentConfigEnvironment, VariablesAreExpandedAndAMissingOneIsNamed) {
  setenv("PGPILOT_TEST_POD", "pg-7", 1);
  setenv("PGPILOT_TEST_IP", "10.1.2.3", 1);
  AgentConfig c = MustParse(Minimal("name: pg-1\n", "name: ${PGPILOT_TEST_POD}\n") +
                            "api:\n  listen: 0.0.0.0:8008\n  connect_address: ${PGPILOT_TEST_IP}:8008\n");
  EXPECT_EQ(c.name, "pg-7");
  EXPECT_EQ(c.api_connect.ToString(), "10.1.2.3:8008");
  unsetenv("PGPILOT_TEST_UNSET");
  ExpectError(Minimal("name: pg-1\n", "name: ${PGPILOT_TEST_UNSET}\n"), {"'name'", "${PGPILOT_TEST_UNSET}", "not set"});
  // Not a variable reference: kept as written (and then refused as a name, by the name rule).
  ExpectError(Minimal("name: pg-1\n", "name: ${not valid}\n"), {"'name'", "${not valid}"});
  // etcd's endpoints as one comma-separated string, as well as a list.
  setenv("PGPILOT_TEST_ETCD", "10.1.2.4", 1);
  for (const char* endpoints : {"${PGPILOT_TEST_ETCD}:2379,10.1.2.5:2379", "[\"${PGPILOT_TEST_ETCD}:2379\", 10.1.2.5:2379]"}) {
    c = MustParse(Minimal("  sqlite: /srv/store.db\n", std::string("  etcd:\n    endpoints: ") + endpoints + "\n"));
    ASSERT_EQ(c.store.etcd.endpoints.size(), 2u) << endpoints;
    EXPECT_NE(c.store.etcd.endpoints[0].find("10.1.2.4:2379"), std::string::npos) << endpoints;
  }
}

}  // namespace
}  // namespace pgpilot

// postgresql.tls: TLS between members.
namespace pgpilot {
namespace {

std::string WithTls(const std::string& tls_lines) {
  return Minimal("postgresql:\n", "postgresql:\n  tls:\n" + tls_lines);
}

TEST(AgentConfigPgTls, OffByDefault) {
  AgentConfig c = MustParse(kMinimalConfig);
  EXPECT_EQ(c.pg_tls.mode, PgTlsMode::kOff);
  EXPECT_FALSE(c.pg_tls.enabled());
  EXPECT_THAT(RenderAgentConfig(c), ::testing::Not(HasSubstr("tls:")));
  EXPECT_FALSE(MustParse(WithTls("    mode: off\n")).pg_tls.enabled());
  EXPECT_FALSE(MustParse(Minimal("postgresql:\n", "postgresql:\n  tls: {}\n")).pg_tls.enabled());
}

TEST(AgentConfigPgTls, EveryKeyParsesAndRoundTrips) {
  AgentConfig c = MustParse(WithTls(
      "    mode: verify-full\n    cert_file: /etc/pgpilot/tls/server.pem\n"
      "    key_file: /etc/pgpilot/tls/server.key\n    ca_file: /etc/pgpilot/tls/ca.pem\n"));
  EXPECT_EQ(c.pg_tls.mode, PgTlsMode::kVerifyFull);
  EXPECT_EQ(c.pg_tls.cert_file, "/etc/pgpilot/tls/server.pem");
  EXPECT_EQ(c.pg_tls.key_file, "/etc/pgpilot/tls/server.key");
  EXPECT_EQ(c.pg_tls.ca_file, "/etc/pgpilot/tls/ca.pem");
  for (PgTlsMode mode : {PgTlsMode::kOn, PgTlsMode::kVerifyCa, PgTlsMode::kVerifyFull}) {
    c.pg_tls.mode = mode;
    std::string yaml = RenderAgentConfig(c);
    auto back = ParseAgentConfig(yaml, "rendered.yaml");
    ASSERT_TRUE(back.ok()) << back.error().ToString() << "\n" << yaml;
    ExpectSameConfig(*back, c);
  }
  c.pg_tls.mode = PgTlsMode::kOn;
  c.pg_tls.ca_file.clear();
  auto back = ParseAgentConfig(RenderAgentConfig(c), "rendered.yaml");
  ASSERT_TRUE(back.ok()) << back.error().ToString();
  ExpectSameConfig(*back, c);
}

TEST(AgentConfigPgTls, YamlsBareOnIsTheModeOn) {
  AgentConfig c = MustParse(WithTls("    mode: on\n    cert_file: /c.pem\n    key_file: /k.pem\n"));
  EXPECT_EQ(c.pg_tls.mode, PgTlsMode::kOn);
  EXPECT_EQ(MustParse(WithTls("    mode: true\n    cert_file: /c.pem\n    key_file: /k.pem\n")).pg_tls.mode,
            PgTlsMode::kOn);
}

TEST(AgentConfigPgTls, WhatEachModeNeedsIsRequiredByName) {
  ExpectError(WithTls("    mode: verify_ca\n"),
              {"'postgresql.tls.mode'", "off, on, verify-ca or verify-full", "'verify_ca'"});
  ExpectError(WithTls("    mode: on\n    key_file: /k.pem\n"), {"'postgresql.tls.cert_file'", "required", "on"});
  ExpectError(WithTls("    mode: on\n    cert_file: /c.pem\n"), {"'postgresql.tls.key_file'", "required"});
  ExpectError(WithTls("    mode: verify-ca\n    cert_file: /c.pem\n    key_file: /k.pem\n"),
              {"'postgresql.tls.ca_file'", "required with mode verify-ca"});
  ExpectError(WithTls("    mode: verify-full\n    cert_file: /c.pem\n    key_file: /k.pem\n"),
              {"'postgresql.tls.ca_file'", "verify-full"});
  ExpectError(WithTls("    cert_file: /c.pem\n    key_file: /k.pem\n"),
              {"'postgresql.tls.mode'", "required with certificate files"});
}

TEST(AgentConfigPgTls, RelativePathsAndUnknownKeysAreRefused) {
  ExpectError(WithTls("    mode: on\n    cert_file: tls/server.pem\n    key_file: /k.pem\n"),
              {"'postgresql.tls.cert_file'", "absolute", "data directory", "'tls/server.pem'"});
  ExpectError(WithTls("    mode: verify-ca\n    cert_file: /c.pem\n    key_file: /k.pem\n    ca_file: ca.pem\n"),
              {"'postgresql.tls.ca_file'", "absolute"});
  ExpectError(WithTls("    mode: on\n    cert_file: /c.pem\n    key_file: /k.pem\n    client_cert: true\n"),
              {"unknown key 'postgresql.tls.client_cert'"});
  ExpectError(Minimal("postgresql:\n", "postgresql:\n  tls: verify-ca\n"), {"'postgresql.tls'", "mapping"});
}

TEST(AgentConfigPgTls, SslParametersPointToPostgresqlTls) {
  for (const char* name : {"ssl", "ssl_cert_file", "ssl_key_file", "ssl_ca_file"}) {
    ExpectError(Minimal("postgresql:\n", std::string("postgresql:\n  parameters:\n    ") + name + ": x\n"),
                {"'postgresql.parameters." + std::string(name) + "'", "postgresql.tls"});
  }
  AgentConfig c = MustParse(Minimal("postgresql:\n", "postgresql:\n  parameters:\n    ssl_min_protocol_version: TLSv1.3\n"));
  EXPECT_EQ(c.parameters.front().first, "ssl_min_protocol_version");
}

}  // namespace
namespace {

// API security (api.tls, api.auth): docs/configuration.md, "API security".
std::string WithApi(const std::string& api_lines) { return std::string(kMinimalConfig) + "api:\n" + api_lines; }

TEST(AgentConfigApiSecurity, OffByDefaultAndNotRendered) {
  AgentConfig c = MustParse(kMinimalConfig);
  EXPECT_FALSE(c.api_tls.enabled());
  EXPECT_TRUE(c.api_auth.token_file.empty());
  EXPECT_TRUE(c.api_auth.username.empty());
  std::string yaml = RenderAgentConfig(c);
  EXPECT_THAT(yaml, ::testing::Not(HasSubstr("auth:")));
  EXPECT_THAT(yaml, ::testing::Not(HasSubstr("cert_file")));
}

TEST(AgentConfigApiSecurity, EveryKeyParsesRoundTripsAndMakesTheUrlHttps) {
  AgentConfig c = MustParse(WithApi(
      "  listen: 10.0.0.5:8008\n"
      "  tls:\n    cert_file: /etc/pgpilot/api.pem\n    key_file: /etc/pgpilot/api.key\n"
      "    client_ca_file: /etc/pgpilot/clients-ca.pem\n    ca_file: /etc/pgpilot/ca.pem\n"
      "  auth:\n    token_file: /etc/pgpilot/api-token\n    username: operator\n"
      "    password_file: /etc/pgpilot/api-password\n"));
  EXPECT_EQ(c.api_tls.cert_file, "/etc/pgpilot/api.pem");
  EXPECT_EQ(c.api_tls.key_file, "/etc/pgpilot/api.key");
  EXPECT_EQ(c.api_tls.client_ca_file, "/etc/pgpilot/clients-ca.pem");
  EXPECT_EQ(c.api_tls.ca_file, "/etc/pgpilot/ca.pem");
  EXPECT_EQ(c.api_auth.token_file, "/etc/pgpilot/api-token");
  EXPECT_EQ(c.api_auth.username, "operator");
  EXPECT_EQ(c.api_auth.password_file, "/etc/pgpilot/api-password");
  EXPECT_TRUE(c.api_tls.enabled());
  EXPECT_EQ(c.ApiUrl(), "https://10.0.0.5:8008");
  std::string yaml = RenderAgentConfig(c);
  auto back = ParseAgentConfig(yaml, "rendered.yaml");
  ASSERT_TRUE(back.ok()) << back.error().ToString() << "\n" << yaml;
  ExpectSameConfig(*back, c);
  // A token alone, and basic authentication alone (its password from the environment), parse too.
  EXPECT_EQ(MustParse(WithApi("  auth:\n    token_file: /t\n")).api_auth.token_file, "/t");
  EXPECT_EQ(MustParse(WithApi("  auth:\n    username: ops\n")).api_auth.username, "ops");
}

TEST(AgentConfigApiSecurity, CertificateAndKeyGoTogether) {
  ExpectError(WithApi("  tls:\n    cert_file: /c.pem\n"), {"'api.tls.key_file'", "required with api.tls.cert_file"});
  ExpectError(WithApi("  tls:\n    key_file: /k.pem\n"), {"'api.tls.cert_file'", "required with api.tls.key_file"});
  ExpectError(WithApi("  tls:\n    client_ca_file: /ca.pem\n"), {"'api.tls.client_ca_file'", "only over HTTPS"});
  // The CA of the other members alone is fine: this agent speaks HTTP, its peers may not.
  EXPECT_FALSE(MustParse(WithApi("  tls:\n    ca_file: /ca.pem\n")).api_tls.enabled());
}

TEST(AgentConfigApiSecurity, PasswordNeedsAUserAndPathsMustBeAbsolute) {
  ExpectError(WithApi("  auth:\n    password_file: /p\n"), {"'api.auth.username'", "required with api.auth.password_file"});
  ExpectError(WithApi("  auth:\n    token_file: secrets/api-token\n"),
              {"'api.auth.token_file'", "absolute", "'secrets/api-token'"});
  ExpectError(WithApi("  tls:\n    cert_file: api.pem\n    key_file: /k.pem\n"), {"'api.tls.cert_file'", "absolute"});
  ExpectError(WithApi("  tls:\n    cert_file: /c.pem\n    key_file: /k.pem\n    ca_file: ca.pem\n"),
              {"'api.tls.ca_file'", "absolute"});
}

TEST(AgentConfigApiSecurity, UnknownKeysAndWrongShapesAreNamed) {
  ExpectError(WithApi("  auth:\n    token: abc\n"), {"unknown key 'api.auth.token'"});
  ExpectError(WithApi("  tls:\n    verify_client: true\n"), {"unknown key 'api.tls.verify_client'"});
  ExpectError(WithApi("  auth: secret\n"), {"'api.auth'", "mapping"});
  ExpectError(WithApi("  tls: [a]\n"), {"'api.tls'", "mapping"});
}

}  // namespace
}  // namespace pgpilot
