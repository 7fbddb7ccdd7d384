#include "core/action.h"

namespace pgpilot {
namespace {

std::string Describe(const ClaimInitialize& a) {
  return a.system_id.empty() ? "claim_initialize" : "claim_initialize(" + a.system_id + ")";
}
std::string Describe(const CompleteInitialize& a) { return "complete_initialize(" + a.system_id + ")"; }
std::string Describe(const AbandonInitialize&) { return "abandon_initialize"; }
std::string Describe(const AcquireLease& a) {
  return a.expect_absent ? "acquire_lease(absent)"
                         : "acquire_lease(revision " + std::to_string(a.expected_revision) + ")";
}
std::string Describe(const RenewLease& a) { return "renew_lease(term " + std::to_string(a.term) + ")"; }
std::string Describe(const ReleaseLease& a) { return "release_lease(term " + std::to_string(a.term) + ")"; }
std::string Describe(const ClearSwitchover&) { return "clear_switchover"; }
std::string Describe(const Checkpoint&) { return "checkpoint"; }
std::string Describe(const SetParameters& a) {
  std::string out;
  for (const auto& [name, value] : a.parameters) out += (out.empty() ? "" : ",") + name + "=" + value;
  return "set_parameters(" + out + ")";
}
std::string Describe(const AppendHistory& a) {
  return "append_history(timeline " + std::to_string(a.entry.timeline) + " at " +
         a.entry.switch_lsn.ToString() + ")";
}
std::string Describe(const Bootstrap&) { return "bootstrap"; }
std::string Describe(const Clone& a) { return "clone(from " + a.source.name + ")"; }
std::string Describe(const Rewind& a) { return "rewind(from " + a.source.name + ")"; }
std::string Describe(const Start& a) {
  if (a.role == StartRole::kPrimary) return "start(primary)";
  return a.upstream ? "start(replica of " + a.upstream->name + ")" : "start(replica, no upstream)";
}
std::string Describe(const Stop& a) {
  return a.mode == StopMode::kImmediate ? "stop(immediate)" : "stop(fast)";
}
std::string Describe(const Promote& a) {
  return a.timeline == 0 ? "promote" : "promote(to timeline " + std::to_string(a.timeline) + ")";
}
std::string Describe(const Follow& a) {
  return a.upstream ? "follow(" + a.upstream->name + ")" : "follow(nobody)";
}
std::string Names(const std::vector<std::string>& names) {
  std::string out;
  for (size_t i = 0; i < names.size(); ++i) out += (i ? "," : "") + names[i];
  return out;
}
std::string Describe(const EnsureSlots& a) { return "ensure_slots(" + Names(a.members) + ")"; }
std::string Describe(const WriteSync& a) {
  return "write_sync(" + a.record.leader + ": [" + Names(a.record.members) + "], " +
         (a.expect_absent ? std::string("absent") : "revision " + std::to_string(a.expected_revision)) +
         ")";
}
std::string Describe(const WriteRequests& a) {
  return "write_requests(" + std::to_string(a.record.requests.size()) + " pending, revision " +
         std::to_string(a.expected_revision) + ")";
}
std::string Describe(const SetSyncStandbys& a) {
  return "set_synchronous_standbys(" + Names(a.names) + (a.commit_fence ? std::string(" + commit fence") : "") + ")";
}
std::string Describe(const KeepDataDirAside& a) { return "keep_data_dir_aside(" + a.why + ")"; }

}  // namespace

std::string DescribeAction(const Action& action) {
  return std::visit([](const auto& a) { return Describe(a); }, action);
}

}  // namespace pgpilot
