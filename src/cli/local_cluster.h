// The directory of a cluster made by `pgpilot up`: one subdirectory per member (agent.yaml,
// logs, data), the embedded store, generated secrets and a pgpass file for the user's psql.
#pragma once

#include <string>
#include <vector>

#include "agent/config.h"
#include "core/result.h"

namespace pgpilot {

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

// The name of member i of a local cluster: pg-0, pg-1, ...
std::string LocalMemberName(int i);

// True when `dir` holds a cluster made by `pgpilot up`.
bool IsLocalCluster(const std::string& dir);
Result<LocalCluster> LoadLocalCluster(const std::string& dir);
// Writes configs and generated secrets (0600) into an empty or new directory.
Result<LocalCluster> CreateLocalCluster(const LocalClusterSpec& spec);

// A random password from the kernel's generator: 32 characters of [A-Za-z0-9].
Result<std::string> RandomSecret();

}  // namespace pgpilot
