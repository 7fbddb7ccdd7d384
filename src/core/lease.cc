#include "core/lease.h"

namespace pgpilot {

Duration LeaseMargin(Duration ttl) { return ttl / 4; }

MonoTime OwnLeaseDeadline(const OwnLease& lease) {
  return lease.sent_at + (lease.ttl - LeaseMargin(lease.ttl));
}

MonoTime WatchdogDeadline(const OwnLease& lease) {
  return lease.sent_at + (lease.ttl - LeaseMargin(lease.ttl) / 2);
}

const char* LeaderStatusName(LeaderStatus status) {
  switch (status) {
    case LeaderStatus::kNone: return "none";
    case LeaderStatus::kValid: return "valid";
    case LeaderStatus::kExpired: return "expired";
    case LeaderStatus::kReleased: return "released";
  }
  return "unknown";
}

LeaderSighting TrackLeader(const LeaderSighting& previous,
                           const std::optional<LeaderRecord>& now_seen, MonoTime now) {
  if (!now_seen) return LeaderSighting{};
  if (previous.record && previous.record->revision == now_seen->revision &&
      previous.record->holder == now_seen->holder && previous.record->term == now_seen->term) {
    LeaderSighting same = previous;
    same.record = now_seen;  // identical revision; keep the first sighting time
    return same;
  }
  return LeaderSighting{now_seen, now};
}

LeaderAssessment AssessLeader(const LeaderSighting& sighting, MonoTime now) {
  if (!sighting.record) return {LeaderStatus::kNone, Duration{0}};
  Duration unchanged = now - sighting.first_seen;
  if (sighting.record->released) return {LeaderStatus::kReleased, unchanged};
  if (unchanged >= sighting.record->ttl) return {LeaderStatus::kExpired, unchanged};
  return {LeaderStatus::kValid, unchanged};
}

}  // namespace pgpilot
