#include "sim/unsafe_variants.h"

namespace pgpilot::sim {

const std::vector<VariantInfo>& AllVariants() {
  static const std::vector<VariantInfo> kVariants = {
      {Variant::kNoLeaseWait, "no-lease-wait",
       "promote without waiting for the leader's lease to expire"},
      {Variant::kWriteWithoutLease, "write-without-lease",
       "a leader keeps accepting writes after it failed to renew (no fence, no watchdog)"},
      {Variant::kInitdbInitialized, "initdb-initialized",
       "initdb an empty data directory in an initialized cluster instead of cloning"},
      {Variant::kUnreservedTimeline, "unreserved-timeline",
       "promote without recording the new timeline first, letting PostgreSQL pick its number"},
      {Variant::kOutsideSyncSet, "outside-sync-set",
       "synchronous mode: elect the best replica whether or not the sync set names it"},
  };
  return kVariants;
}

std::optional<Variant> ParseVariant(std::string_view name) {
  if (name == "none") return Variant::kNone;
  for (const auto& v : AllVariants()) {
    if (name == v.name) return v.variant;
  }
  return std::nullopt;
}

const char* VariantName(Variant variant) {
  for (const auto& v : AllVariants()) {
    if (v.variant == variant) return v.name;
  }
  return "none";
}

bool DisablesWatchdog(Variant variant) { return variant == Variant::kWriteWithoutLease; }

Decision DecideAs(Variant variant, const Observation& o) {
  switch (variant) {
    case Variant::kNone:
      return Decide(o);
    case Variant::kNoLeaseWait: {
      Observation changed = o;
      if (o.view.ok() && o.view->leader && o.view->leader->holder != o.settings.member_name &&
          !o.view->leader->released && o.local.is_running_replica()) {
        // Pretend the record has been seen unchanged for a whole ttl already.
        changed.memory.leader = LeaderSighting{o.view->leader, o.now - o.view->leader->ttl};
      }
      return Decide(changed);
    }
    case Variant::kWriteWithoutLease: {
      Decision d = Decide(o);
      if (d.next == NodeState::kDemoting && o.local.is_running_primary()) {
        d.actions.clear();
        d.next = NodeState::kPrimary;
        d.memory.state = NodeState::kPrimary;
        d.reason = "UNSAFE: ignoring the fence (" + d.reason + ")";
      }
      return d;
    }
    case Variant::kUnreservedTimeline: {
      Decision d = Decide(o);
      std::vector<Action> kept;
      for (Action& a : d.actions) {
        if (std::holds_alternative<AppendHistory>(a) && d.next == NodeState::kPromoting) continue;
        if (auto* p = std::get_if<Promote>(&a)) p->timeline = 0;
        kept.push_back(std::move(a));
      }
      d.actions = std::move(kept);
      return d;
    }
    case Variant::kOutsideSyncSet: {
      Observation changed = o;
      if (!o.local.is_running_primary()) changed.settings.synchronous_mode = SyncMode::kOff;
      return Decide(changed);
    }
    case Variant::kInitdbInitialized: {
      Decision d = Decide(o);
      bool empty = o.local.data_dir == DataDirKind::kEmpty || o.local.data_dir == DataDirKind::kMissing;
      if (o.view.ok() && o.view->initialize && o.view->initialize->complete() && empty &&
          !o.local.task.running) {
        d.actions = {Bootstrap{}};
        d.next = NodeState::kBootstrapping;
        d.memory.state = NodeState::kBootstrapping;
        d.reason = "UNSAFE: initdb although the cluster is initialized";
      }
      return d;
    }
  }
  return Decide(o);
}

}  // namespace pgpilot::sim
