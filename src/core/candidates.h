// Who may be promoted when the leader lease is gone, and in which order: a pure comparator.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/cluster_view.h"
#include "core/types.h"

namespace pgpilot {

// One member as a possible new primary, from its own observation or its API.
struct Candidate {
  std::string name;
  bool reachable = false;        // answered this tick
  bool running_replica = false;  // PostgreSQL running, in recovery, accepting connections
  bool nofailover = false;
  Timeline timeline = 0;
  Lsn wal_position;              // max(received, replayed)
  std::string error;             // why unreachable
  bool outside_sync_set = false; // synchronous mode: not in `sync`, may lack acknowledged commits
};

// A member as a candidate, from the status its API published.
Candidate CandidateFromMember(const MemberStatus& member);

struct Excluded {
  std::string name;
  std::string why;
};

struct Ranking {
  std::vector<Candidate> eligible;  // best first
  std::vector<Excluded> excluded;

  // "pg-1(tl 2, 0/3000148) > pg-2(tl 2, 0/3000060); excluded: pg-0 (unreachable)".
  std::string Describe() const;
};

// The lag a candidate may have behind the last leader's published position: none after a clean
// release (the holder promised its final position), maximum_lag_on_failover after a crash.
uint64_t AllowedLag(const std::optional<LeaderRecord>& last_leader, uint64_t maximum_lag_on_failover);

// Why `c` may not be promoted at all, or nullopt when it may.
std::optional<std::string> Ineligibility(const Candidate& c,
                                         const std::optional<LeaderRecord>& last_leader,
                                         uint64_t maximum_lag_on_failover);

// Why `c`'s WAL is not a prefix of the cluster's recorded history (it went past the switch to the
// next recorded timeline), or nullopt. RankCandidates prefers members on the recorded history and
// falls back to diverged ones only when none of those is eligible (its newest timeline lost).
std::optional<std::string> Divergence(const Candidate& c, const std::vector<HistoryEntry>& history);

// Best first: higher timeline, then higher WAL position, then smaller name.
bool RanksBefore(const Candidate& a, const Candidate& b);

Ranking RankCandidates(const std::vector<Candidate>& all,
                       const std::optional<LeaderRecord>& last_leader,
                       uint64_t maximum_lag_on_failover,
                       const std::vector<HistoryEntry>& history = {});

// The newest timeline recorded in the history, 0 when there is none.
Timeline NewestTimeline(const std::vector<HistoryEntry>& history);
// The entry recording `timeline`, or null.
const HistoryEntry* HistoryFor(const std::vector<HistoryEntry>& history, Timeline timeline);
// Where the lineage of timeline `newer` (walked back through the history's parents) left timeline
// `older`: WAL on `older` beyond that position is not part of `newer`'s history.
struct Fork {
  enum Kind {
    kAt,           // `newer` descends from `older`, leaving it at `lsn`
    kNotAncestor,  // `older` is not on `newer`'s lineage at all: everything on it is foreign
    kUnknown,      // the history misses an entry on the way: cannot tell
  } kind = kUnknown;
  Lsn lsn;
};
Fork ForkBetween(const std::vector<HistoryEntry>& history, Timeline newer, Timeline older);

}  // namespace pgpilot
