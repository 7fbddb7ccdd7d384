// The local PostgreSQL instance as the HA loop sees it: observe it, and act on it.
// Long operations (Bootstrap, Clone, Rewind, Start) are called from the task runner's thread;
// Observe and the short ones from the loop's thread; implementations allow that concurrency.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/action.h"
#include "core/local_state.h"
#include "core/result.h"

namespace pgpilot {

class PostgresController {
 public:
  virtual ~PostgresController() = default;

  // Data directory, process, role and WAL positions. Never fails: what cannot be observed is
  // reported in the state (not running, not accepting, with the reason).
  virtual LocalState Observe() = 0;

  // initdb if the directory is empty, write configuration, start as a primary, create the
  // replication user. Idempotent: safe to run again after an interruption.
  virtual Status Bootstrap() = 0;
  // pg_basebackup from `source` into the empty data directory, using this member's slot there
  // when it is the leader (a temporary one otherwise).
  virtual Status Clone(const MemberEndpoint& source, bool from_leader) = 0;
  // pg_rewind against `source`, then configure the directory as its replica.
  virtual Status Rewind(const MemberEndpoint& source) = 0;
  // Writes configuration for the role and starts; returns once connections are accepted.
  virtual Status Start(StartRole role, const std::optional<MemberEndpoint>& upstream) = 0;
  virtual Status Stop(StopMode mode) = 0;
  // Ends recovery, moving from timeline `current` onto `timeline` (0: PostgreSQL's own choice).
  virtual Status Promote(Timeline current, Timeline timeline) = 0;
  virtual Status Follow(const std::optional<MemberEndpoint>& upstream) = 0;
  virtual Status EnsureSlots(const std::vector<std::string>& members) = 0;
  // Makes every commit wait for all of `names` (synchronous_standby_names; empty: none) and, when
  // `commit_fence`, for the agent's commit fence; kept in the managed configuration across
  // restarts, and reloads.
  virtual Status SetSyncStandbys(const std::vector<std::string>& names, bool commit_fence) = 0;
  // Where the agent's commit fence connects to this PostgreSQL (as the replication user).
  virtual std::string CommitFenceConninfo() const = 0;
  // Writes the store's cluster-wide PostgreSQL parameters into the managed configuration and
  // reloads (a parameter that needs a restart then shows as pending_restart).
  virtual Status SetParameters(const std::vector<std::pair<std::string, std::string>>& parameters) = 0;
  // CHECKPOINT, given up after `timeout` (the shutdown checkpoint then does the rest).
  virtual Status Checkpoint(Duration timeout) = 0;
  // Renames the data directory aside (never deletes); returns the new path.
  virtual Result<std::string> KeepDataDirAside() = 0;
};

}  // namespace pgpilot
