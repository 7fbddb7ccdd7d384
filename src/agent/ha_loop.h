// The HA loop: each tick observes (store + local PostgreSQL), decides (core/decide.h), executes,
// publishes (store member entry, API snapshot), keeps the fence watchdog armed, and logs the
// decision in one line. That is the whole loop, in a straight line.
#pragma once

#include <atomic>
#include <memory>
#include <string>

#include "agent/agent_counters.h"
#include "agent/config.h"
#include "agent/executor.h"
#include "agent/fence_watchdog.h"
#include "agent/snapshot.h"
#include "agent/task_runner.h"
#include "core/decide.h"
#include "platform/clock.h"
#include "postgres/postgres_controller.h"
#include "store/store.h"

namespace pgpilot {

class CommitFence;

class HaLoop {
 public:
  HaLoop(const AgentConfig& config, Store& store, PostgresController& postgres, TaskRunner& tasks,
         FenceWatchdog* watchdog, const Clock& clock, SnapshotBoard& board);
  ~HaLoop();

  // Ticks until `stop` becomes true.
  void Run(const std::atomic<bool>& stop);
  // A clean exit: stop PostgreSQL (fast), release the lease with our final WAL position so a
  // replica with all of it can take over at once, disarm the fence.
  void Shutdown();

 private:
  void Tick();
  void WaitForNextTick(const std::atomic<bool>& stop);
  void Publish(const Observation& o, const Decision& d);
  MemberStatus BuildMember(const Observation& o, NodeState state, const std::string& reason) const;
  // One line per decision (steady repeats at most once a minute); in JSON format with the
  // fields cluster, member, from, state, reason and actions.
  void LogDecision(NodeState from, const Decision& d);
  // Counts what the executor did this tick (lease renewal, promotion, failure).
  void Count(const Observation& o, const ExecutionReport& report);
  // The commit fence streams from our PostgreSQL and confirms until our lease's own deadline
  // while we hold the lease; otherwise it confirms nothing.
  void SteerCommitFence(const LocalState& local);

  const AgentConfig& config_;
  HaSettings settings_;   // from the agent's config file
  HaSettings in_force_;   // ... with the store's cluster-wide settings over it, as last decided
  Store& store_;
  PostgresController& postgres_;
  TaskRunner& tasks_;
  Executor executor_;
  FenceWatchdog* watchdog_;
  std::unique_ptr<CommitFence> commit_fence_;  // null unless config.commit_fence
  const Clock& clock_;
  SnapshotBoard& board_;

  AgentMemory memory_;
  AgentCounters counters_;  // published with every snapshot
  uint64_t change_token_ = 0;
  uint64_t task_sequence_at_tick_ = 0;
  std::string last_logged_;
  MonoTime last_logged_at_;
};

}  // namespace pgpilot
