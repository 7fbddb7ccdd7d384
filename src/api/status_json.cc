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
  j["cluster"] = s.cluster_name;
  if (v.switchover) j["switchover"] = json::parse(EncodeSwitchover(*v.switchover));
  if (v.requests) j["requests"] = json::parse(EncodeRequests(*v.requests));
  if (v.sync) j["sync"] = json::parse(EncodeSync(*v.sync));
  if (v.config) j["config"] = json::parse(EncodeConfig(*v.config));
  return JsonText(j);
}

Result<ClusterReport> ParseClusterJson(const std::string& body) {
  json j = json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return InvalidArgument("the agent's /cluster answer is not a JSON object");
  auto field = [&j](const char* key) -> const json* {
    auto it = j.find(key);
    return it == j.end() || it->is_null() ? nullptr : &*it;
  };
  if (const json* error = field("error"); error != nullptr && field("members") == nullptr) {
    return Unavailable("the agent has no view of the cluster: " + (error->is_string() ? error->get<std::string>() : ""),
                       "see the agent's log; it may not reach the store");
  }
  ClusterReport out;
  if (const json* cluster = field("cluster"); cluster != nullptr && cluster->is_string()) {
    out.cluster = cluster->get<std::string>();
  }
  ClusterView& v = out.view;
  if (const json* leader = field("leader")) {
    auto decoded = DecodeLeader("/cluster leader", JsonText(*leader));
    if (!decoded.ok()) return decoded.error();
    v.leader = *decoded;
  }
  if (const json* members = field("members"); members != nullptr && members->is_array()) {
    for (const json& m : *members) {
      auto decoded = DecodeMember("/cluster members", JsonText(m));
      if (!decoded.ok()) return decoded.error();
      v.members.push_back(*decoded);
    }
  }
  if (const json* history = field("history")) {
    auto decoded = DecodeHistory("/cluster history", JsonText(*history));
    if (!decoded.ok()) return decoded.error();
    v.history = *decoded;
  }
  if (const json* id = field("system_id"); id != nullptr && id->is_string()) {
    v.initialize = InitializeRecord{"", id->get<std::string>()};
  }
  if (const json* switchover = field("switchover")) {
    auto decoded = DecodeSwitchover("/cluster switchover", JsonText(*switchover));
    if (!decoded.ok()) return decoded.error();
    v.switchover = *decoded;
  }
  if (const json* requests = field("requests")) {
    auto decoded = DecodeRequests("/cluster requests", JsonText(*requests));
    if (!decoded.ok()) return decoded.error();
    v.requests = *decoded;
  }
  if (const json* sync = field("sync")) {
    auto decoded = DecodeSync("/cluster sync", JsonText(*sync));
    if (!decoded.ok()) return decoded.error();
    v.sync = *decoded;
  }
  if (const json* config = field("config")) {
    auto decoded = DecodeConfig("/cluster config", JsonText(*config));
    if (!decoded.ok()) return decoded.error();
    v.config = *decoded;
  }
  return out;
}

Result<Candidate> ParsePeerStatus(const std::string& body) {
  json j = json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return InvalidArgument("peer status is not a JSON object");
  auto member = DecodeMember("/status", JsonText(j));
  if (!member.ok()) return member.error();
  return CandidateFromMember(*member);
}

}  // namespace pgpilot
