#include "core/node_state.h"

#include <algorithm>
#include <iterator>

namespace pgpilot {
namespace {

using S = NodeState;

// Every edge Decide may take, with its trigger. Staying put is always legal. The unit tests drive
// Decide through generated observations and fail on any edge missing here.
constexpr Transition kTransitions[] = {
    // Start-up and bootstrap.
    {S::kInit, S::kWaiting, "waiting for the bootstrap, a leader to clone from, or the store"},
    {S::kInit, S::kBootstrapping, "won the initialize race with an empty data directory"},
    {S::kInit, S::kCloning, "empty data directory in an initialized cluster"},
    {S::kInit, S::kRewinding, "a former primary finds another leader"},
    {S::kInit, S::kStarting, "valid data directory, PostgreSQL down"},
    {S::kInit, S::kReplica, "PostgreSQL already running in recovery"},
    {S::kInit, S::kPromoting, "the lease names us and PostgreSQL runs in recovery"},
    {S::kInit, S::kStopped, "PostgreSQL down, waiting for a retry or for the leader's address"},
    {S::kWaiting, S::kBootstrapping, "won the initialize race"},
    {S::kWaiting, S::kCloning, "a leader to clone from appeared"},
    {S::kWaiting, S::kStarting, "a data directory to start from is in place"},
    {S::kWaiting, S::kRewinding, "a former primary finds another leader"},
    {S::kWaiting, S::kStopped, "data directory in place, PostgreSQL down, retry pending"},
    {S::kBootstrapping, S::kPrimary, "initdb, start and users done; initialize completed"},
    {S::kBootstrapping, S::kWaiting, "an interrupted initdb was kept aside, or the store is unreachable"},
    {S::kCloning, S::kWaiting, "clone failed or the leader went away; retry later"},
    {S::kCloning, S::kStarting, "clone done, starting as a replica"},
    {S::kCloning, S::kRewinding, "clone done but the leader changed meanwhile"},
    {S::kCloning, S::kStopped, "clone done, the leader has no address yet"},
    {S::kRewinding, S::kStarting, "rewind done, starting as a replica"},
    {S::kRewinding, S::kWaiting, "rewind failed: data directory kept aside, clone next"},
    {S::kRewinding, S::kStopped, "rewind done, the leader has no address yet or a retry is pending"},
    {S::kRewinding, S::kRewinding, "rewind again after the leader changed"},
    // Running.
    {S::kStarting, S::kReplica, "PostgreSQL accepts connections in recovery"},
    {S::kStarting, S::kPrimary, "started as a primary under our renewed lease"},
    {S::kStarting, S::kPromoting, "started in recovery while the lease names us"},
    {S::kStarting, S::kStopped, "start failed; retry after a pause"},
    {S::kStarting, S::kRewinding, "start failed and the leader changed"},
    {S::kStarting, S::kWaiting, "the data directory disappeared"},
    {S::kReplica, S::kPromoting, "the lease expired or was released and we ranked first"},
    {S::kReplica, S::kStopped, "our timeline diverged from the leader's: stop to rewind"},
    {S::kReplica, S::kStarting, "PostgreSQL went down and is being restarted"},
    {S::kReplica, S::kRewinding, "PostgreSQL went down, we must rewind"},
    {S::kPromoting, S::kPrimary, "promotion finished"},
    {S::kPromoting, S::kReplica, "the lease was lost before promotion finished"},
    {S::kPrimary, S::kStarting, "PostgreSQL restarting under our lease"},
    // Losing the lease.
    {S::kPrimary, S::kDemoting, "lease not provable: stopped PostgreSQL immediately"},
    {S::kPrimary, S::kStopped, "switchover: checkpoint, clean stop, lease released to the target"},
    {S::kPromoting, S::kDemoting, "lease lost during promotion"},
    {S::kBootstrapping, S::kDemoting, "lease lost during bootstrap"},
    {S::kStarting, S::kDemoting, "writable without a lease"},
    {S::kInit, S::kDemoting, "found PostgreSQL writable without a lease we can prove"},
    {S::kReplica, S::kDemoting, "PostgreSQL left recovery without our lease"},
    {S::kDemoting, S::kStarting, "restart read-only (following the new leader if known)"},
    {S::kDemoting, S::kRewinding, "a new leader exists: rewind before following"},
    {S::kDemoting, S::kStopped, "waiting to restart"},
    {S::kDemoting, S::kWaiting, "the store is unreachable"},
    {S::kStopped, S::kStarting, "retry the start"},
    {S::kStopped, S::kRewinding, "rewind before following the leader"},
    {S::kStopped, S::kWaiting, "data directory kept aside, or no leader to clone from"},
    {S::kStopped, S::kCloning, "data directory gone: clone"},
};

// Edges that may be taken from any state, because the observation alone decides them.
constexpr NodeState kReachableFromAnywhere[] = {
    S::kBlocked,   // foreign data directory or system identifier, failed bootstrap
    S::kWaiting,   // the store went away or the data directory was removed
    S::kCloning,   // an empty data directory (wiped by an operator) and a leader
    S::kStarting,  // PostgreSQL found down with valid data
    S::kReplica,   // PostgreSQL found running in recovery
    S::kStopped,   // PostgreSQL found down, a retry pending
    S::kDemoting,  // the fence: writable without a provable lease
    S::kRewinding, // PostgreSQL found down after having been a primary
    S::kBootstrapping,  // our initialize claim is still open (resume), or no initialize key at all
};

constexpr const char* kNames[] = {"init",     "waiting", "bootstrapping", "cloning",
                                  "rewinding", "starting", "replica",      "promoting",
                                  "primary",  "demoting", "stopped",      "blocked"};

}  // namespace

const char* NodeStateName(NodeState state) { return kNames[static_cast<int>(state)]; }

std::optional<NodeState> ParseNodeState(std::string_view name) {
  for (NodeState s : kAllNodeStates) {
    if (name == NodeStateName(s)) return s;
  }
  return std::nullopt;
}

std::span<const Transition> Transitions() { return kTransitions; }

std::span<const NodeState> ReachableFromAnywhere() { return kReachableFromAnywhere; }

bool IsLegalTransition(NodeState from, NodeState to) {
  if (from == to) return true;
  if (std::find(std::begin(kReachableFromAnywhere), std::end(kReachableFromAnywhere), to) !=
      std::end(kReachableFromAnywhere)) {
    return true;
  }
  return std::any_of(std::begin(kTransitions), std::end(kTransitions),
                     [&](const Transition& t) { return t.from == from && t.to == to; });
}

}  // namespace pgpilot
