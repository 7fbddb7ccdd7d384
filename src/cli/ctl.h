// `pgpilot ctl`: operate a cluster through its store, or through one agent's API (--api).
#pragma once

#include <string>
#include <vector>

#include "core/types.h"

namespace pgpilot {

// Which cluster: a directory made by `up`, an agent config, a store address and cluster name, or
// an agent's API. With `api`, `dir` or `config` may also be given: they then only supply the API's
// credentials and CA (the agent config's api.auth and api.tls), which the api_* files override.
// Secrets come from files or the environment (PGPILOT_API_TOKEN, PGPILOT_API_PASSWORD), never from
// the command line.
struct CtlTarget {
  std::string dir;
  std::string config;
  std::string store;
  std::string cluster;
  std::string api;                // http(s)://HOST:PORT of an agent
  std::string api_token_file;     // a bearer token
  std::string api_user;           // basic authentication, with api_password_file
  std::string api_password_file;
  std::string api_ca_file;        // verifies the agent's certificate (https)
  std::string api_cert_file;      // a client certificate, when the agent requires one
  std::string api_key_file;
};

int CtlList(const CtlTarget& target, bool json);
int CtlDsn(const CtlTarget& target, bool replicas);

// The store's cluster-wide settings: printed; changed with `sets` ("key=value", repeated) or,
// without them, in $EDITOR; pause/resume set the maintenance flag.
int CtlShowConfig(const CtlTarget& target);
int CtlEditConfig(const CtlTarget& target, const std::vector<std::string>& sets);
int CtlPause(const CtlTarget& target, bool pause);
// The timeline switches the store recorded, oldest first.
int CtlHistory(const CtlTarget& target);

struct SwitchoverOptions {
  std::string to;        // empty: the best eligible replica
  std::string at;        // UTC time "2026-12-02T10:00:00Z"; empty: now
  bool force = false;    // skip the lag check
  bool cancel = false;   // drop the pending switchover or failover request instead
  Duration wait{60000};  // how long to wait for the new primary (immediate switchovers)
};
// Writes the switchover request to the store and waits until the target leads (or the leader
// drops the request, saying why). Exit status 0 when done (or scheduled), 1 when refused or not
// done in time, 2 on bad input.
int CtlSwitchover(const CtlTarget& target, const SwitchoverOptions& options);

struct FailoverOptions {
  std::string to;        // the member to promote (required)
  bool force = false;    // even outside the synchronous set, or lagging: may lose commits
  bool yes = false;      // no confirmation question
  Duration wait{60000};
};
// For a cluster without a healthy primary: asks for confirmation, writes the request and waits
// until `to` leads. Exit status 0 when done, 1 when refused or not done in time, 2 on bad input.
int CtlFailover(const CtlTarget& target, const FailoverOptions& options);

struct RestartOptions {
  std::string member;      // empty: every member
  bool pending = false;    // only members with a changed parameter waiting for a restart
  Duration wait{120000};   // how long to wait for PostgreSQL to be back
};
// Asks the member's agent (every member's, without a name) to restart PostgreSQL, through the
// store, and waits until it runs again with a new process, keeping its role (a primary keeps its
// lease: no failover). Exit status 0 when done, 1 when refused or not done in time, 2 on bad input.
int CtlRestart(const CtlTarget& target, const RestartOptions& options);

struct ReinitOptions {
  std::string member;      // the replica to re-initialize (required)
  bool yes = false;        // no confirmation question
  Duration wait{600000};   // how long to wait for it to stream again
};
// Asks a replica's agent to stop PostgreSQL, keep its data directory aside (renamed, never
// deleted) and clone afresh from the leader; waits until it runs as a replica again.
int CtlReinit(const CtlTarget& target, const ReinitOptions& options);

}  // namespace pgpilot
