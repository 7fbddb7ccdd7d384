// Every state a member can be in, and every legal transition between them, in one table.
#pragma once

#include <optional>
#include <span>
#include <string_view>

namespace pgpilot {

// A state is a promise about the local PostgreSQL instance; only kPrimary accepts writes.
enum class NodeState {
  kInit,           // the agent has just started and has not decided anything yet
  kWaiting,        // nothing to run yet: waiting for the bootstrap, a leader to clone, or the store
  kBootstrapping,  // won the initialize race; initdb and first start running
  kCloning,        // pg_basebackup from the leader running
  kRewinding,      // pg_rewind against the leader running (a former primary rejoining)
  kStarting,       // PostgreSQL starting
  kReplica,        // running read-only, following the leader (or nobody, while none is known)
  kPromoting,      // holds the leader lease; promotion in progress
  kPrimary,        // holds the leader lease and accepts writes
  kDemoting,       // lost or cannot prove the lease: PostgreSQL was stopped, writes refused
  kStopped,        // PostgreSQL not running and nothing safe to do now
  kBlocked,        // needs an operator; the reason says what to do
};

inline constexpr NodeState kAllNodeStates[] = {
    NodeState::kInit,     NodeState::kWaiting,   NodeState::kBootstrapping, NodeState::kCloning,
    NodeState::kRewinding, NodeState::kStarting, NodeState::kReplica,       NodeState::kPromoting,
    NodeState::kPrimary,  NodeState::kDemoting,  NodeState::kStopped,       NodeState::kBlocked,
};

const char* NodeStateName(NodeState state);
std::optional<NodeState> ParseNodeState(std::string_view name);

struct Transition {
  NodeState from;
  NodeState to;
  const char* trigger;  // what causes this edge
};

// The table of legal transitions (staying in the same state is always legal).
std::span<const Transition> Transitions();
// States any state may move to, because the observation alone decides them (not in Transitions()).
std::span<const NodeState> ReachableFromAnywhere();
bool IsLegalTransition(NodeState from, NodeState to);

}  // namespace pgpilot
