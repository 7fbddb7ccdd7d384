// Performs a decision's actions in order and stops at the first one that fails or is refused
// (never promote when the acquire before it did not succeed). It never decides anything.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "agent/task_runner.h"
#include "core/action.h"
#include "core/decide.h"
#include "core/local_state.h"
#include "platform/clock.h"
#include "postgres/postgres_controller.h"
#include "store/store.h"

namespace pgpilot {

// A renewal of our own lease: how long the store took to answer (or to fail), and whether it
// renewed it.
struct LeaseRenewal {
  std::chrono::nanoseconds latency{0};
  bool granted = false;
};

struct ExecutionReport {
  std::optional<LeaseOutcome> lease;  // the outcome of the lease write, if one was attempted
  std::optional<LeaseRenewal> renewal;  // set when a RenewLease action ran
  bool stopped_postgres = false;      // a Stop action succeeded: PostgreSQL is down
  bool promoted = false;              // a Promote action succeeded
  std::vector<std::string> failures;  // "acquire_lease: held by pg-1", ...
  bool all_done = true;
};

class Executor {
 public:
  Executor(std::string member, Store& store, PostgresController& postgres, TaskRunner& tasks,
           const Clock& clock)
      : member_(std::move(member)), store_(store), postgres_(postgres), tasks_(tasks), clock_(clock) {}

  // `ttl` is the lease time to live in force (the agent's, or the cluster-wide one).
  ExecutionReport Run(const std::vector<Action>& actions, const LocalState& local, Duration ttl);

  // Called the moment a lease write is granted, before the next action runs (promote, start as
  // primary): the HA loop arms the fence watchdog there, not after the whole decision.
  void OnLeaseGranted(std::function<void(const OwnLease&)> listener) { on_lease_ = std::move(listener); }

 private:
  Status Do(const Action& action, const LocalState& local, ExecutionReport* report);
  LeaseRequest Request(const LocalState& local) const;
  // Reports a lease write's outcome, and tells the listener at once when it was granted.
  void RecordLease(const LeaseWrite& write, MonoTime sent, ExecutionReport* report) const;
  Status Launch(TaskKind kind, std::function<Status()> work);

  std::string member_;
  Duration ttl_{0};  // of the decision being run
  Store& store_;
  PostgresController& postgres_;
  TaskRunner& tasks_;
  const Clock& clock_;
  std::function<void(const OwnLease&)> on_lease_;
};

}  // namespace pgpilot
