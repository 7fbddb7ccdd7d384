// Lease arithmetic: when our own lease stops being provable, and when another member's has expired.
//
// The holder counts from the moment it SENT its last successful renewal; an observer counts from
// the moment it first SAW a given revision of the leader record. The holder's deadline is
// sent + ttl - margin, the watchdog's sent + ttl - margin/2, and an observer may take over only
// at first_seen + ttl >= sent + ttl. With clock rates within margin/ttl of each other, the old
// primary stops accepting writes before a new one can be promoted.
#pragma once

#include <optional>
#include <string>

#include "core/cluster_view.h"
#include "core/types.h"

namespace pgpilot {

// What we know of our own lease: the record we last wrote successfully, and when we sent it.
struct OwnLease {
  uint64_t term = 0;
  uint64_t revision = 0;
  MonoTime sent_at;
  Duration ttl{0};
  friend bool operator==(const OwnLease&, const OwnLease&) = default;
};

Duration LeaseMargin(Duration ttl);
// The moment the holder must have stopped accepting writes unless it renewed.
MonoTime OwnLeaseDeadline(const OwnLease& lease);
// The moment the watchdog kills PostgreSQL if the agent has not renewed (agent frozen or dead).
MonoTime WatchdogDeadline(const OwnLease& lease);

enum class LeaderStatus {
  kNone,      // no leader record at all
  kValid,     // held, renewed within ttl as far as we can tell
  kExpired,   // unchanged for ttl on our clock
  kReleased,  // given up cleanly by its holder
};
const char* LeaderStatusName(LeaderStatus status);

// An observer's memory of the leader record: which revision it saw first, and when.
struct LeaderSighting {
  std::optional<LeaderRecord> record;
  MonoTime first_seen;
  friend bool operator==(const LeaderSighting&, const LeaderSighting&) = default;
};

// Updates the sighting with this tick's record: a new revision restarts the clock.
LeaderSighting TrackLeader(const LeaderSighting& previous, const std::optional<LeaderRecord>& now_seen,
                           MonoTime now);

struct LeaderAssessment {
  LeaderStatus status = LeaderStatus::kNone;
  Duration unchanged_for{0};
};
LeaderAssessment AssessLeader(const LeaderSighting& sighting, MonoTime now);

}  // namespace pgpilot
