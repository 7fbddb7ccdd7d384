// Test harness: a real local cluster started with the built `pgpilot up`, queried with real SQL.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "platform/process.h"

namespace pgpilot::testing {

struct CommandResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr together
};

// The one process runner of the test process. Its reaper collects every child (waitpid(-1)), so
// a second runner would lose its children's exit statuses to this one: use only this.
ProcessRunner& Runner();

// Runs the pgpilot binary under test with `args`, capturing its output.
CommandResult RunPgpilot(const std::vector<std::string>& args, int timeout_seconds = 180);

// A base port P with P+i and P+100+i free on loopback for i < nodes (0 if none found).
int PickBasePort(int nodes);

// Polls `condition` every 200 ms until it holds or `timeout` passes; returns whether it held.
bool WaitUntil(const std::function<bool()>& condition, std::chrono::seconds timeout);

// A fresh directory under /tmp, world-traversable so the unprivileged PostgreSQL user can use it.
class TempDir {
 public:
  explicit TempDir(const std::string& prefix);
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// One member as `pgpilot ctl list --json` reports it.
struct MemberView {
  std::string name;
  std::string role;   // primary, replica, down, ...
  std::string state;
  int timeline = 0;
  int port = 0;
  pid_t agent_pid = 0;
  pid_t postgres_pid = 0;
  bool holds_lease = false;
  bool streaming = false;
};

// The members of `pgpilot ctl list --json` output (empty when it has none).
std::vector<MemberView> ParseMembers(const nlohmann::json& list);
// The member with role primary, if exactly one claims it.
std::optional<MemberView> FindPrimary(const std::vector<MemberView>& members);
// Every member except `except` is a streaming replica of the one primary on its timeline, and
// `expected_members` members are healthy.
bool IsConverged(const std::vector<MemberView>& members, int expected_members,
                 const std::string& except = "");

// A cluster started by `pgpilot up` in a temporary directory; stopped and removed at the end.
class LocalClusterUnderTest {
 public:
  // `store_url`: empty for the embedded store, or "etcd://HOST:PORT" (the cluster gets a unique name).
  // `up_args`: more options for `pgpilot up` ("--synchronous-mode", "on").
  LocalClusterUnderTest(int nodes, int ttl_seconds, std::string store_url = "",
                        std::vector<std::string> up_args = {});
  ~LocalClusterUnderTest();

  const std::string& dir() const { return dir_.path(); }
  int base_port() const { return base_port_; }
  int pg_port(int index) const { return base_port_ + index; }
  // The cluster name `Up` gives a cluster on an external store.
  std::string cluster_name() const { return "it-" + std::to_string(base_port_); }

  CommandResult Up(int timeout_seconds = 180);
  // `pgpilot ctl --dir DIR ARGS...`.
  CommandResult Ctl(std::vector<std::string> args, int timeout_seconds = 180);
  CommandResult Down();
  nlohmann::json ListJson();            // {} when ctl failed
  std::vector<MemberView> Members();
  std::optional<MemberView> Primary();  // the member with role primary, if exactly one
  std::optional<MemberView> Member(const std::string& name);

  // Runs SQL on one member (by port); returns the first column of each row, or nullopt on error.
  std::optional<std::vector<std::string>> Sql(int port, const std::string& sql,
                                              std::string* error = nullptr);
  // The multi-host read-write connection string `ctl dsn` prints, with the passfile ("" on error).
  std::string ReadWriteConninfo(std::string* error = nullptr);
  // Runs SQL through the multi-host read-write connection string `ctl dsn` prints.
  std::optional<std::vector<std::string>> SqlOnPrimary(const std::string& sql,
                                                       std::string* error = nullptr);

  // kill -9 of `primary`'s agent and PostgreSQL, then waits up to 60 s until another member is
  // the primary holding the lease and `write_sql` succeeds through the read-write connection
  // string. `new_primary` is unset on failure, with the reason in `failure`.
  struct Takeover {
    std::optional<MemberView> new_primary;
    std::chrono::milliseconds took{0};  // from the kill until the write succeeded
    std::string failure;
  };
  Takeover KillAndAwaitTakeover(const MemberView& primary, const std::string& write_sql);

  // Every member except `except` is a streaming replica of the one primary on `timeline`.
  bool Converged(int expected_members, const std::string& except = "");

  std::string ReadMemberFile(const std::string& member, const std::string& file) const;

 private:
  TempDir dir_;
  int nodes_;
  int ttl_;
  int base_port_ = 0;
  std::string store_url_;
  std::vector<std::string> up_args_;
  bool started_ = false;
};

}  // namespace pgpilot::testing
