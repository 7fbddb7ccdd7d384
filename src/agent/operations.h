// What an operator changes in a cluster, written to its store: one function per operation, shared
// by `pgpilot ctl` (which talks to the store itself) and the agent's API (its changing calls).
// Each loads the cluster, checks the request against what the store holds, writes it, and returns
// what it wrote or why not; none prints, asks or waits (the callers do). Errors: kInvalidArgument
// (bad input, an unknown member), kFailedPrecondition (refused by the cluster's state, or a
// concurrent write won), kUnavailable (the store could not be asked).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/cluster_view.h"
#include "core/result.h"
#include "core/types.h"
#include "store/store.h"

namespace pgpilot {

struct SwitchoverParams {
  std::string to;                      // empty: the best eligible replica
  std::optional<WallTime> not_before;  // empty: at once
  bool force = false;                  // skip the lag check
  // Used when the store's cluster-wide config sets no maximum_lag_on_failover.
  uint64_t maximum_lag = 0;
};
// Writes the `switchover` request (create-if-absent) to the leader; returns it.
Result<SwitchoverRecord> RequestSwitchover(Store& store, const SwitchoverParams& params, WallTime now);

// Drops a pending switchover or failover request; returns it (nullopt when there was none).
Result<std::optional<SwitchoverRecord>> CancelSwitchover(Store& store);

// For a cluster without a healthy primary: writes the failover request naming `to`; returns it.
Result<SwitchoverRecord> RequestFailover(Store& store, const std::string& to, bool force, WallTime now);

// A request written to the `requests` key, with the PostgreSQL process it should replace (the
// caller waits for a new one).
struct SentRequest {
  MemberRequest request;
  int64_t postgres_pid_before = 0;
};
// Restart requests for `member` (every member when empty; `pending`: only those with a restart
// pending). Empty when no member matched `pending`.
Result<std::vector<SentRequest>> RequestRestart(Store& store, const std::string& member, bool pending,
                                                WallTime now);
// Why `member` cannot be re-initialized in `view` (unknown, the leader, no primary to clone from).
Status CheckReinit(const ClusterView& view, const std::string& member);
Result<SentRequest> RequestReinit(Store& store, const std::string& member, WallTime now);
// Removes the refused request of `member` (best effort: another request may have replaced it).
void DropRefusedRequest(Store& store, const std::string& member);

// Reads the cluster-wide config, lets `change` edit it, checks it and writes it back with a
// compare-and-swap on what was read; returns what was written.
Result<DynamicConfig> UpdateClusterConfig(Store& store, const std::function<Status(DynamicConfig*)>& change);
// `settings`: (key, value) pairs as `ctl edit-config --set key=value` takes them (config_edit.h).
Result<DynamicConfig> ChangeSettings(Store& store, const std::vector<std::pair<std::string, std::string>>& settings);
Result<DynamicConfig> SetPause(Store& store, bool pause);

}  // namespace pgpilot
