// The agent's configuration: parsed and validated once from YAML; every error names the key, the
// file and the fix. yaml-cpp stays inside config.cc.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "api/api_settings.h"
#include "core/cluster_view.h"
#include "core/result.h"
#include "core/sync_standbys.h"
#include "core/types.h"
#include "platform/log.h"
#include "postgres/tls.h"
#include "store/open_store.h"

namespace pgpilot {

struct HostPort {
  std::string host;
  int port = 0;
  std::string ToString() const { return host + ":" + std::to_string(port); }
};

struct AgentConfig {
  std::string source_file;  // where it was loaded from, for messages
  std::string cluster;
  std::string name;
  std::string data_dir;
  std::string state_dir;    // pgpass, logs; default: the data directory's parent
  std::string run_as = "postgres";
  Duration ttl{10000};
  Duration loop_wait{1000};
  uint64_t maximum_lag_on_failover = 1024 * 1024;
  MemberTags tags;
  // Must be the same on every member (read by the primary and by every candidate).
  SyncMode synchronous_mode = SyncMode::kOff;
  int synchronous_node_count = 1;
  // Commits on our primary wait for the agent's confirmation, given only under its lease
  // (docs/commit-fence.md).
  bool commit_fence = false;
  StoreConfig store;

  HostPort api_listen{"127.0.0.1", 8008};
  HostPort api_connect{"", 0};  // what other members and ctl use; default api_listen
  ApiTlsSettings api_tls;       // api.tls: HTTPS, client certificates, the other members' CA
  ApiAuthSettings api_auth;     // api.auth: the credentials changing calls must carry

  std::string bin_dir;           // default: detected (/usr/lib/postgresql/15/bin)
  std::string pg_listen = "127.0.0.1";
  int pg_port = 5432;
  std::string pg_connect_host;   // default: pg_listen when it is one address
  std::string socket_dir;
  std::string pg_log_file;       // default: state_dir/postgres.log
  std::vector<std::string> allowed_networks;
  std::string superuser = "postgres";
  std::string superuser_password_file;
  std::string replication_user = "replicator";
  std::string replication_password_file;
  PgTls pg_tls;                  // postgresql.tls: TLS between members
  std::vector<std::pair<std::string, std::string>> parameters;

  LogFormat log_format = LogFormat::kText;
  LogLevel log_level = LogLevel::kInfo;

  std::string ApiUrl() const { return (api_tls.enabled() ? "https://" : "http://") + api_connect.ToString(); }
};

Result<AgentConfig> LoadAgentConfig(const std::string& path);
Result<AgentConfig> ParseAgentConfig(const std::string& yaml_text, const std::string& source);
// YAML for a config, as `pgpilot up` writes it.
std::string RenderAgentConfig(const AgentConfig& config);

// The directory holding the PostgreSQL programs: configured, or detected.
Result<std::string> DetectPostgresBinDir(const std::string& configured);

// Names must be usable in keys, slot names and Kubernetes objects: [a-z0-9-], 1..63.
bool IsValidName(const std::string& name);

}  // namespace pgpilot
