#include "api/status_json.h"

#include <nlohmann/json.hpp>

#include "api/health.h"
#include "store/codec.h"
#include "platform/json_text.h"

namespace pgpilot {

using nlohmann::json;

std::string StatusJson(const AgentSnapshot& s, MonoTime now) {
  json j = json::parse(EncodeMember(s.member));
  j["holds_lease"] = s.holds_lease;
  j["store_reachable"] = s.store_reachable;
  if (!s.store_error.empty()) j["store_error"] = s.store_error;
  j["ttl_ms"] = s.ttl.count();
  j["last_loop_age_ms"] = (now - s.last_loop).count();
  if (auto lag = ReplicationLag(s); lag && s.member.role == "replica") j["lag_bytes"] = *lag;
  return JsonText(j);
}

std::string ClusterJson(const AgentSnapshot& s) {
  json j;
  if (!s.cluster) {
    j["error"] = s.store_error.empty() ? "no cluster view yet" : s.store_error;
    return JsonText(j);
  }
  const ClusterView& v = *s.cluster;
  if (v.leader) {
    j["leader"] = {{"holder", v.leader->holder}, {"term", v.leader->term},
                   {"ttl_ms", v.leader->ttl.count()}, {"released", v.leader->released},
                   {"lsn", v.leader->lsn.ToString()}, {"timeline", v.leader->timeline}};
  } else {
    j["leader"] = nullptr;
  }
  j["members"] = json::array();
  for (const auto& m : v.members) j["members"].push_back(json::parse(EncodeMember(m)));
  j["history"] = json::parse(EncodeHistory(v.history));
  if (v.initialize) j["system_id"] = v.initialize->system_id;
  return JsonText(j);
}

Result<Candidate> ParsePeerStatus(const std::string& body) {
  json j = json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return InvalidArgument("peer status is not a JSON object");
  auto member = DecodeMember("/status", JsonText(j));
  if (!member.ok()) return member.error();
  return CandidateFromMember(*member);
}

}  // namespace pgpilot
