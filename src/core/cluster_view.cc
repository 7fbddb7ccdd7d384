#include "core/cluster_view.h"

namespace pgpilot {

const MemberStatus* ClusterView::FindMember(const std::string& name) const {
  for (const auto& m : members) {
    if (m.name == name) return &m;
  }
  return nullptr;
}

}  // namespace pgpilot
