#include "core/cluster_view.h"

#include <algorithm>

namespace pgpilot {

const MemberStatus* ClusterView::FindMember(const std::string& name) const {
  for (const auto& m : members) {
    if (m.name == name) return &m;
  }
  return nullptr;
}

Result<bool> HistoryAppendable(const std::vector<HistoryEntry>& history, const HistoryEntry& entry) {
  for (const HistoryEntry& h : history) {
    if (h.timeline != entry.timeline) continue;
    if (h.new_leader == entry.new_leader && h.term == entry.term) return false;
    return FailedPrecondition("timeline " + std::to_string(entry.timeline) + " is already recorded for " +
                                  h.new_leader + " (term " + std::to_string(h.term) + ")",
                              "not promoting onto it: the decision was made on an outdated view");
  }
  return true;
}

void RequestsRecord::Put(MemberRequest request) {
  std::erase_if(requests, [&](const MemberRequest& r) { return r.member == request.member; });
  auto at = std::lower_bound(requests.begin(), requests.end(), request.member,
                             [](const MemberRequest& r, const std::string& m) { return r.member < m; });
  requests.insert(at, std::move(request));
}

const MemberRequest* RequestsRecord::For(const std::string& member) const {
  for (const auto& r : requests) {
    if (r.member == member) return &r;
  }
  return nullptr;
}

}  // namespace pgpilot
