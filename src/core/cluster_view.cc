#include "core/cluster_view.h"

namespace pgpilot {

const MemberStatus* ClusterView::FindMember(const std::string& name) const {
  for (const auto& m : members) {
    if (m.name == name) return &m;
  }
  return nullptr;
}

const MemberRequest* RequestsRecord::For(const std::string& member) const {
  for (const auto& r : requests) {
    if (r.member == member) return &r;
  }
  return nullptr;
}

}  // namespace pgpilot
