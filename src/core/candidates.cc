#include "core/candidates.h"

#include <algorithm>

namespace pgpilot {

std::optional<std::string> Divergence(const Candidate& c, const std::vector<HistoryEntry>& history) {
  Timeline newest = NewestTimeline(history);
  if (c.timeline >= newest) return std::nullopt;
  Fork fork = ForkBetween(history, newest, c.timeline);
  std::string where = "diverged: on timeline " + std::to_string(c.timeline) + " at " +
                      c.wal_position.ToString() + ", ";
  if (fork.kind == Fork::kNotAncestor) {
    return where + "which is not on the lineage of the newest timeline " + std::to_string(newest);
  }
  if (fork.kind == Fork::kAt && c.wal_position > fork.lsn) {
    return where + "past where timeline " + std::to_string(newest) + "'s lineage left it (" +
           fork.lsn.ToString() + ")";
  }
  return std::nullopt;
}

Candidate CandidateFromMember(const MemberStatus& member) {
  Candidate c;
  c.name = member.name;
  c.reachable = true;
  c.running_replica = member.role == "replica";
  c.nofailover = member.tags.nofailover;
  c.timeline = member.timeline;
  c.wal_position = member.wal_position;
  return c;
}

uint64_t AllowedLag(const std::optional<LeaderRecord>& last_leader, uint64_t maximum_lag) {
  if (last_leader && last_leader->released) return 0;
  return maximum_lag;
}

std::optional<std::string> Ineligibility(const Candidate& c,
                                         const std::optional<LeaderRecord>& last_leader,
                                         uint64_t maximum_lag) {
  if (!c.reachable) return "unreachable" + (c.error.empty() ? std::string() : ": " + c.error);
  if (!c.running_replica) return std::string("not a running replica");
  if (c.nofailover) return std::string("tagged nofailover");
  if (c.outside_sync_set) {
    return std::string("not in the synchronous set (it may lack acknowledged commits)");
  }
  if (!last_leader) return std::nullopt;
  if (c.timeline < last_leader->timeline) {
    return "on timeline " + std::to_string(c.timeline) + ", the last leader was on " +
           std::to_string(last_leader->timeline);
  }
  uint64_t lag = LsnDistance(last_leader->lsn, c.wal_position);
  uint64_t allowed = AllowedLag(last_leader, maximum_lag);
  if (lag > allowed) {
    std::string why = std::to_string(lag) + " bytes behind the last leader's " +
                      last_leader->lsn.ToString();
    if (last_leader->released) {
      why += " (" + last_leader->holder + " released the lease cleanly; only a member with all of "
             "its WAL may take over)";
    } else {
      why += " (maximum_lag_on_failover is " + std::to_string(allowed) + ")";
    }
    return why;
  }
  return std::nullopt;
}

Timeline NewestTimeline(const std::vector<HistoryEntry>& history) {
  Timeline newest = 0;
  for (const auto& h : history) newest = std::max(newest, h.timeline);
  return newest;
}

const HistoryEntry* HistoryFor(const std::vector<HistoryEntry>& history, Timeline timeline) {
  for (const auto& h : history) {
    if (h.timeline == timeline) return &h;
  }
  return nullptr;
}

Fork ForkBetween(const std::vector<HistoryEntry>& history, Timeline newer, Timeline older) {
  Timeline t = newer;
  while (t > older) {
    const HistoryEntry* entry = HistoryFor(history, t);
    if (entry == nullptr) return Fork{};
    Timeline parent = entry->parent != 0 ? entry->parent : t - 1;
    if (parent == older) return Fork{Fork::kAt, entry->switch_lsn};
    if (parent >= t) return Fork{};  // a malformed entry
    t = parent;
  }
  return Fork{Fork::kNotAncestor, Lsn{}};
}

bool RanksBefore(const Candidate& a, const Candidate& b) {
  if (a.timeline != b.timeline) return a.timeline > b.timeline;
  if (a.wal_position != b.wal_position) return a.wal_position > b.wal_position;
  return a.name < b.name;
}

Ranking RankCandidates(const std::vector<Candidate>& all,
                       const std::optional<LeaderRecord>& last_leader, uint64_t maximum_lag,
                       const std::vector<HistoryEntry>& history) {
  Ranking ranking;
  std::vector<std::pair<Candidate, std::string>> diverged;
  for (const auto& c : all) {
    if (auto why = Ineligibility(c, last_leader, maximum_lag)) {
      ranking.excluded.push_back({c.name, *why});
    } else if (auto off = Divergence(c, history)) {
      diverged.emplace_back(c, *off);
    } else {
      ranking.eligible.push_back(c);
    }
  }
  // A member whose WAL left the recorded history is promoted only when nobody on it can be.
  bool history_member_eligible = !ranking.eligible.empty();
  for (auto& [c, why] : diverged) {
    if (!history_member_eligible) {
      ranking.eligible.push_back(c);
    } else {
      ranking.excluded.push_back({c.name, why + "; a member on the recorded history is eligible"});
    }
  }
  std::sort(ranking.eligible.begin(), ranking.eligible.end(), RanksBefore);
  return ranking;
}

std::string Ranking::Describe() const {
  std::string out;
  for (size_t i = 0; i < eligible.size(); ++i) {
    if (i > 0) out += " > ";
    out += eligible[i].name + "(tl " + std::to_string(eligible[i].timeline) + ", " +
           eligible[i].wal_position.ToString() + ")";
  }
  if (eligible.empty()) out += "no eligible member";
  if (!excluded.empty()) {
    out += "; excluded:";
    for (const auto& e : excluded) out += " " + e.name + " (" + e.why + ")";
  }
  return out;
}

}  // namespace pgpilot
