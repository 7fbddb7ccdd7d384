// The directory of a cluster made by `pgpilot up`: one subdirectory per member (agent.yaml,
// logs, data), the embedded store, generated secrets and a pgpass file for the user's psql.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "agent/config.h"
#include "core/result.h"

namespace pgpilot {

// `pgpilot up --pg-tls DIR`: the PEM text of DIR/cert.pem, DIR/key.pem and DIR/ca.pem, read before
// `up` drops root (the key may be root's), written into the cluster directory for its user.
struct LocalTlsFiles {
  std::string cert;
  std::string key;
  std::string ca;
};

struct LocalClusterSpec {
  std::string dir;
  std::string cluster = "local";
  int nodes = 3;
  int base_port = 15432;     // PostgreSQL of member i: base_port + i; its API: base_port + 100 + i
  Duration ttl{10000};
  Duration loop_wait{1000};
  std::string run_as = "postgres";
  std::string store_url;     // empty: the embedded store in DIR; or "etcd://HOST:PORT,..."
  SyncMode synchronous_mode = SyncMode::kOff;
  int synchronous_node_count = 1;
  bool commit_fence = false;
  std::optional<LocalTlsFiles> pg_tls;  // TLS between members (verify-ca), files in DIR/tls
  ApiTlsSettings api_tls;    // the agents' API: HTTPS when it names a certificate (paths as given)
};

struct LocalCluster {
  std::string dir;
  std::vector<AgentConfig> members;  // sorted by name

  std::string StorePath() const;
  std::string UserPassfile() const;  // superuser credentials for psql (0600)
  std::string MemberDir(const std::string& name) const;
  std::string AgentLog(const std::string& name) const;
  std::string AgentPidFile(const std::string& name) const;
};

inline constexpr const char* kStoreFile = "store.db";
inline constexpr const char* kUserPassfile = "pgpass";
inline constexpr const char* kLocalTlsDir = "tls";
// Under DIR: the token every agent's API asks of changing calls (0600); `ctl --dir --api` sends it.
inline constexpr const char* kApiTokenFile = "secrets/api-token";

// The name of member i of a local cluster: pg-0, pg-1, ...
std::string LocalMemberName(int i);

// True when `dir` holds a cluster made by `pgpilot up`.
bool IsLocalCluster(const std::string& dir);
Result<LocalCluster> LoadLocalCluster(const std::string& dir);
// The certificate, key and CA of `--pg-tls DIR`; errors name the missing or unreadable file.
Result<LocalTlsFiles> ReadLocalTlsFiles(const std::string& dir);
// Writes configs and generated secrets (0600) into an empty or new directory; with `spec.pg_tls`,
// the TLS files into DIR/tls (the key 0600) and every member uses them with mode verify-ca.
Result<LocalCluster> CreateLocalCluster(const LocalClusterSpec& spec);

// A random password from the kernel's generator: 32 characters of [A-Za-z0-9].
Result<std::string> RandomSecret();

}  // namespace pgpilot
