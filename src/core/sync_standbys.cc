#include "core/sync_standbys.h"

#include <algorithm>
#include <cctype>

namespace pgpilot {
namespace {

std::string Joined(const std::vector<std::string>& names) {
  if (names.empty()) return "none";
  std::string out;
  for (size_t i = 0; i < names.size(); ++i) out += (i ? ", " : "") + names[i];
  return out;
}

bool Contains(const std::vector<std::string>& names, const std::string& name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

std::vector<std::string> Sorted(std::vector<std::string> names) {
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  return names;
}

// What PostgreSQL must wait for when the record names `members`.
std::vector<std::string> PostgresNames(SyncMode mode, const std::vector<std::string>& members) {
  if (members.empty() && mode == SyncMode::kStrict) return {std::string(kNoStandbyName)};
  return members;
}

// Skips spaces; true when `text` continues with `word` (case-insensitive), consuming it.
bool Take(std::string_view& text, std::string_view word) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) text.remove_prefix(1);
  if (text.size() < word.size()) return false;
  for (size_t i = 0; i < word.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(text[i])) != word[i]) return false;
  }
  text.remove_prefix(word.size());
  return true;
}

}  // namespace

std::string SynchronousStandbyNames(const std::vector<std::string>& standbys, bool commit_fence) {
  std::vector<std::string> names;
  if (commit_fence) names.emplace_back(kCommitFenceName);
  names.insert(names.end(), standbys.begin(), standbys.end());
  if (names.empty()) return "";
  std::string out = "ANY " + std::to_string(names.size()) + " (";
  for (size_t i = 0; i < names.size(); ++i) out += (i ? ", \"" : "\"") + names[i] + "\"";
  return out + ")";
}

namespace {

// Every name of a value SynchronousStandbyNames wrote, the commit fence's included.
std::optional<std::vector<std::string>> ParseAllNames(std::string_view text) {
  std::string_view rest = text;
  if (!Take(rest, "any")) {
    if (rest.find_first_not_of(" \t") == std::string_view::npos) return std::vector<std::string>{};
    return std::nullopt;
  }
  while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
  size_t digits = 0;
  while (digits < rest.size() && std::isdigit(static_cast<unsigned char>(rest[digits]))) ++digits;
  if (digits == 0 || digits > 3) return std::nullopt;
  size_t count = std::stoul(std::string(rest.substr(0, digits)));
  rest.remove_prefix(digits);
  if (!Take(rest, "(")) return std::nullopt;
  std::vector<std::string> names;
  while (true) {
    if (!Take(rest, "\"")) return std::nullopt;
    size_t end = rest.find('"');
    if (end == std::string_view::npos || end == 0) return std::nullopt;
    names.emplace_back(rest.substr(0, end));
    rest.remove_prefix(end + 1);
    if (Take(rest, ",")) continue;
    if (!Take(rest, ")")) return std::nullopt;
    break;
  }
  if (rest.find_first_not_of(" \t") != std::string_view::npos) return std::nullopt;
  if (names.size() != count) return std::nullopt;  // ANY k of more than k: not an exact set
  return Sorted(std::move(names));
}

}  // namespace

std::optional<std::vector<std::string>> ParseSynchronousStandbyNames(std::string_view text) {
  auto names = ParseAllNames(text);
  if (names) std::erase(*names, std::string(kCommitFenceName));
  return names;
}

bool NamesCommitFence(std::string_view text) {
  auto names = ParseAllNames(text);
  return names && Contains(*names, std::string(kCommitFenceName));
}

WriteSync WriteSyncOver(const std::optional<SyncRecord>& current, SyncRecord next) {
  if (!current) return WriteSync{std::move(next), 0, true};
  return WriteSync{std::move(next), current->revision, false};
}

std::optional<std::string> OutsideSyncSet(const std::optional<SyncRecord>& sync,
                                          const std::string& member) {
  if (!sync || sync->leader.empty() || sync->leader == member || Contains(sync->members, member)) {
    return std::nullopt;
  }
  return "the synchronous set of " + sync->leader + " is [" + Joined(sync->members) +
         "]: promoting " + member + " could lose acknowledged commits";
}

namespace {

SyncPlan PlanStandbys(SyncMode mode, int count, const std::string& me, const ClusterView& view,
                      const LocalState& local, const SyncJoin& join, MonoTime now) {
  SyncPlan plan;
  std::optional<std::vector<std::string>> waiting =
      ParseSynchronousStandbyNames(local.synchronous_standby_names);
  if (mode == SyncMode::kOff) {
    // The record promises nothing any more (a leader-less record restricts nobody), before
    // PostgreSQL stops waiting: a later switch back on starts from an empty set.
    if (view.sync && !view.sync->leader.empty()) {
      plan.actions.push_back(WriteSyncOver(view.sync, SyncRecord{"", {}, 0}));
    }
    if (!waiting || !waiting->empty()) plan.actions.push_back(SetSyncStandbys{{}});
    if (!plan.actions.empty()) plan.summary = "synchronous mode is off: PostgreSQL stops waiting for standbys";
    return plan;
  }
  const std::optional<SyncRecord>& record = view.sync;
  if (!record || record->leader != me) {
    // An empty set names nobody who could be promoted: always safe to write.
    plan.actions.push_back(WriteSyncOver(record, SyncRecord{me, {}, 0}));
    plan.summary = "taking over the synchronous set (empty until a standby has caught up)";
    return plan;
  }
  const std::vector<std::string>& members = record->members;

  // A member PostgreSQL does not wait for (its setting was lost or overridden) may lack
  // acknowledged commits: it leaves the record before anything else.
  std::vector<std::string> unwaited;
  for (const std::string& name : members) {
    if (!waiting || !Contains(*waiting, name)) unwaited.push_back(name);
  }
  if (!unwaited.empty()) {
    std::vector<std::string> kept;
    for (const std::string& name : members) {
      if (!Contains(unwaited, name)) kept.push_back(name);
    }
    plan.actions.push_back(WriteSyncOver(record, SyncRecord{me, kept, 0}));
    plan.summary = "dropping " + Joined(unwaited) + " from the synchronous set: PostgreSQL does not wait for it";
    return plan;
  }

  // Standbys that may carry commits: streaming from us, publishing a member entry, not nosync.
  std::vector<const StandbyProgress*> healthy;
  for (const StandbyProgress& standby : local.standbys) {
    const MemberStatus* member = view.FindMember(standby.name);
    if (standby.streaming && standby.name != me && member != nullptr && !member->tags.nosync &&
        member->role == "replica") {
      healthy.push_back(&standby);
    }
  }
  auto is_healthy = [&](const std::string& name) {
    return std::any_of(healthy.begin(), healthy.end(),
                       [&](const StandbyProgress* s) { return s->name == name; });
  };

  // Leaving: the record first (this tick), PostgreSQL's setting right after.
  std::vector<std::string> kept;
  std::vector<std::string> dropped;
  for (const std::string& name : members) {
    if (is_healthy(name) && static_cast<int>(kept.size()) < count) kept.push_back(name);
    else dropped.push_back(name);
  }
  if (!dropped.empty()) {
    plan.actions.push_back(WriteSyncOver(record, SyncRecord{me, kept, 0}));
    plan.actions.push_back(SetSyncStandbys{PostgresNames(mode, kept)});
    plan.summary = "dropping " + Joined(dropped) + " from the synchronous set (not streaming, " +
                   "tagged nosync or beyond synchronous_node_count)";
    return plan;
  }

  // Joining: one standby at a time, the one already on its way or the most advanced.
  if (static_cast<int>(members.size()) < count) {
    const StandbyProgress* next = nullptr;
    for (const StandbyProgress* s : healthy) {
      if (Contains(members, s->name)) continue;
      if (s->name == join.name) { next = s; break; }
      if (next == nullptr || s->flushed > next->flushed ||
          (s->flushed == next->flushed && s->name < next->name)) {
        next = s;
      }
    }
    if (next != nullptr) {
      std::vector<std::string> wanted = members;
      wanted.push_back(next->name);
      wanted = Sorted(std::move(wanted));
      if (!waiting || *waiting != wanted) {
        plan.actions.push_back(SetSyncStandbys{wanted});
        plan.join = SyncJoin{next->name, now, false, Lsn{}};
        plan.summary = "asking PostgreSQL to wait for " + next->name + " too";
        return plan;
      }
      if (join.name != next->name) {
        // Asked before we knew (an agent restart): count from now.
        plan.join = SyncJoin{next->name, now, false, Lsn{}};
        plan.summary = "PostgreSQL waits for " + next->name + "; letting the setting settle";
        return plan;
      }
      if (!join.in_effect) {
        plan.join = join;
        if (now - join.asked_at < kSyncReloadSettle) {
          plan.summary = "PostgreSQL waits for " + next->name + "; letting the setting settle";
          return plan;
        }
        // Commits acknowledged from now on are on it; those before must reach it first.
        plan.join.in_effect = true;
        plan.join.needed = local.wal_position;
        plan.summary = "PostgreSQL waits for " + next->name + "; it joins the synchronous set once "
                       "it has flushed " + local.wal_position.ToString();
        return plan;
      }
      if (next->flushed >= join.needed) {
        plan.actions.push_back(WriteSyncOver(record, SyncRecord{me, wanted, 0}));
        plan.summary = next->name + " has every acknowledged commit: synchronous standbys now " +
                       Joined(wanted);
        return plan;
      }
      plan.join = join;
      plan.summary = next->name + " joins the synchronous set at " + join.needed.ToString() +
                     " (flushed " + next->flushed.ToString() + ")";
      return plan;
    }
  }

  std::vector<std::string> wanted = PostgresNames(mode, members);
  if (!waiting || *waiting != wanted) plan.actions.push_back(SetSyncStandbys{wanted});
  plan.summary = "synchronous standbys: " + Joined(members);
  if (members.empty()) {
    plan.summary += mode == SyncMode::kStrict ? " (strict: commits wait until one catches up)"
                                              : " (none available: commits do not wait, and no "
                                                "member may be promoted automatically)";
  }
  return plan;
}

}  // namespace

SyncPlan PlanSyncStandbys(SyncMode mode, int count, const std::string& me, const ClusterView& view,
                          const LocalState& local, const SyncJoin& join, MonoTime now, bool commit_fence) {
  SyncPlan plan = PlanStandbys(mode, count, me, view, local, join, now);
  bool written = false;
  for (Action& action : plan.actions) {
    if (auto* set = std::get_if<SetSyncStandbys>(&action)) {
      set->commit_fence = commit_fence;
      written = true;
    }
  }
  // Only the fence's presence is wrong: the same standbys, with (or without) the fence.
  std::optional<std::vector<std::string>> waiting = ParseSynchronousStandbyNames(local.synchronous_standby_names);
  if (!written && waiting && NamesCommitFence(local.synchronous_standby_names) != commit_fence) {
    plan.actions.push_back(SetSyncStandbys{*waiting, commit_fence});
    plan.summary += std::string(plan.summary.empty() ? "" : "; ") +
                    (commit_fence ? "commits wait for the commit fence (confirmed only under our lease)"
                                  : "commits no longer wait for the commit fence");
  }
  return plan;
}

}  // namespace pgpilot
