#include "api/peer_client.h"

#include <future>

#include "api/status_json.h"

namespace pgpilot {

Result<HttpReply> HttpGet(const std::string& base_url, const std::string& path, Duration timeout) {
  ApiClientOptions options;
  options.timeout = timeout;
  return ApiCall(base_url, "GET", path, "", options);
}

std::vector<Candidate> CollectPeerPositions(const std::vector<MemberStatus>& members,
                                            const std::string& self, Duration timeout,
                                            const ApiClientTls& tls) {
  std::vector<std::future<Candidate>> pending;
  for (const auto& m : members) {
    if (m.name == self) continue;
    pending.push_back(std::async(std::launch::async, [m, timeout, tls] {
      Candidate c;
      c.name = m.name;
      ApiClientOptions options;
      options.tls = tls;
      options.timeout = timeout;
      auto reply = ApiCall(m.api_url, "GET", "/status", "", options);
      if (!reply.ok()) {
        c.error = reply.error().message;
        return c;
      }
      if (reply->status != 200) {
        c.error = "status " + std::to_string(reply->status);
        return c;
      }
      auto parsed = ParsePeerStatus(reply->body);
      if (!parsed.ok()) {
        c.error = parsed.error().message;
        return c;
      }
      if (parsed->name != m.name) {
        c.error = "its API answers as " + parsed->name;
        return c;
      }
      return *parsed;
    }));
  }
  std::vector<Candidate> out;
  for (auto& f : pending) out.push_back(f.get());
  return out;
}

}  // namespace pgpilot
