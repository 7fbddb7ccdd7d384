// The actions a decision asks the executor to perform, in order; the executor stops at the first
// action that fails or is refused.
#pragma once

#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "core/cluster_view.h"
#include "core/types.h"

namespace pgpilot {

// Where a PostgreSQL instance of another member is reached.
struct MemberEndpoint {
  std::string name;
  std::string host;
  int port = 0;
  friend bool operator==(const MemberEndpoint&, const MemberEndpoint&) = default;
};

// Store actions.
struct ClaimInitialize { std::string system_id; };      // create `initialize` if absent
struct CompleteInitialize { std::string system_id; };   // our claim -> the new cluster's sysid
struct AbandonInitialize {};                            // drop our incomplete claim
struct AcquireLease { uint64_t expected_revision = 0; bool expect_absent = false; };
struct RenewLease { uint64_t term = 0; };
struct AppendHistory { HistoryEntry entry; };
struct ReleaseLease { uint64_t term = 0; };  // give the lease up at our final position (after a stop)
struct ClearSwitchover {};                   // the switchover request is done or cannot be done
// Compare-and-swap of `sync`: from this revision, or only if absent.
struct WriteSync { SyncRecord record; uint64_t expected_revision = 0; bool expect_absent = false; };
// Compare-and-swap of `requests` from this revision: our request removed (done) or refused.
struct WriteRequests { RequestsRecord record; uint64_t expected_revision = 0; };

// PostgreSQL actions. Bootstrap, Clone, Rewind and Start run in the background (TaskState).
struct Bootstrap {};
// From the leader, with this member's slot on it; from another member (tagged clonefrom), with
// a temporary slot only (a replica keeps no slot for us).
struct Clone { MemberEndpoint source; bool from_leader = true; };
struct Rewind { MemberEndpoint source; };
enum class StartRole { kPrimary, kReplica };
struct Start { StartRole role = StartRole::kReplica; std::optional<MemberEndpoint> upstream; };
enum class StopMode { kFast, kImmediate };
struct Stop { StopMode mode = StopMode::kFast; };
// Promote onto `timeline` (0: PostgreSQL's choice). Numbers come from the cluster's history, so
// two promotions never create two different timelines with the same number.
struct Promote { Timeline timeline = 0; };
struct Follow { std::optional<MemberEndpoint> upstream; };  // rewrite primary_conninfo, reload
struct EnsureSlots { std::vector<std::string> members; };    // physical slots on this primary
// synchronous_standby_names (the standbys, and the commit fence when set), reload.
struct SetSyncStandbys { std::vector<std::string> names; bool commit_fence = false; };
struct Checkpoint {};                                        // before a switchover's clean stop
// The store's cluster-wide PostgreSQL parameters into pgpilot.conf, reload.
struct SetParameters { std::vector<std::pair<std::string, std::string>> parameters; };
struct KeepDataDirAside { std::string why; };               // rename, never delete

using Action = std::variant<ClaimInitialize, CompleteInitialize, AbandonInitialize, AcquireLease,
                            RenewLease, ReleaseLease, AppendHistory, WriteSync, WriteRequests, ClearSwitchover,
                            Bootstrap, Clone, Rewind, Start, Stop, Promote, Follow, EnsureSlots,
                            SetSyncStandbys, Checkpoint, SetParameters, KeepDataDirAside>;

// "acquire_lease", "start(replica of pg-0)": for the decision log line.
std::string DescribeAction(const Action& action);

}  // namespace pgpilot
