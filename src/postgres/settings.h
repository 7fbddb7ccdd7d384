// Pure builders for the files pgpilot writes into a data directory: pgpilot.conf (included from
// postgresql.conf), pg_hba.conf, and the connection strings members use to reach each other.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/action.h"
#include "postgres/tls.h"

namespace pgpilot {

// The file (inside the data directory) holding every setting pgpilot manages.
inline constexpr const char* kManagedConfFile = "pgpilot.conf";
inline constexpr const char* kIncludeLine = "include_if_exists = 'pgpilot.conf'  # added by pgpilot";

struct InstanceSettings {
  std::string member_name;
  std::string listen_addresses = "127.0.0.1";
  int port = 5432;
  std::string socket_dir;  // empty: no Unix socket
  std::string replication_user = "replicator";
  std::string superuser = "postgres";
  std::string passfile;    // the member's pgpass file, referenced by primary_conninfo
  PgTls tls;               // enabled: ssl = on with these files; primary_conninfo uses its sslmode
  std::vector<std::pair<std::string, std::string>> parameters;  // operator's, applied last
};

// The settings pgpilot owns; an operator parameter naming one of them is refused by the config
// loader (it would break replication or failover).
const std::vector<std::string>& ManagedParameterNames();
// Whether `name` is one of them, as PostgreSQL compares names (case-insensitively).
bool IsManagedParameter(const std::string& name);

using Parameters = std::vector<std::pair<std::string, std::string>>;

// `synchronous_standby_names`: the value to set (core/sync_standbys.h), "" for none.
// `cluster_parameters`: the store's cluster-wide PostgreSQL parameters, last (they win).
std::string RenderManagedConf(const InstanceSettings& s, const std::optional<MemberEndpoint>& upstream,
                              const std::string& synchronous_standby_names = "",
                              const Parameters& cluster_parameters = {});

// The cluster-wide parameters a rendered file holds (after RenderManagedConf's marker line).
Parameters RenderedClusterParameters(const std::string& conf);
// `conf` with its cluster-wide parameters replaced by `parameters` (everything before kept).
std::string WithClusterParameters(const std::string& conf, const Parameters& parameters);

// The value of `name` in a configuration file pgpilot rendered, unquoted; nullopt when the file
// does not set it.
std::optional<std::string> RenderedSetting(const std::string& conf, const std::string& name);
// `conf` with the line of `name` (as RenderManagedConf writes it) set to `value`, quoted; the
// line is appended when missing. Everything else is kept.
std::string WithRenderedSetting(const std::string& conf, const std::string& name, const std::string& value);

struct HbaSettings {
  std::string superuser = "postgres";
  std::string replication_user = "replicator";
  std::vector<std::string> allowed_networks;  // CIDRs allowed to connect and replicate
  // TLS is on: connections from the allowed networks must use it (`hostssl`). Loopback stays
  // `host`: its traffic never leaves the machine, and the agent reaches its own instance there.
  bool tls = false;
};
std::string RenderHba(const HbaSettings& s);

// The physical replication slot of a member: lower case, [a-z0-9_].
std::string SlotName(const std::string& member);

// primary_conninfo for following `upstream`; the password comes from `passfile`, TLS as `s.tls`.
std::string PrimaryConninfo(const MemberEndpoint& upstream, const InstanceSettings& s);

// A libpq connection string with the values quoted as libpq expects.
std::string Conninfo(const std::vector<std::pair<std::string, std::string>>& params);

// "host:port" named by a connection string, or "" when it names none.
std::string ConninfoHostPort(const std::string& conninfo);

// A value quoted for postgresql.conf.
std::string QuoteConfValue(const std::string& value);

// One pgpass line matching any host for `user`.
std::string PgpassLine(const std::string& user, const std::string& password);

}  // namespace pgpilot
