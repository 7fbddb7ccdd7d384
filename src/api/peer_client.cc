#include "api/peer_client.h"

#include "platform/http_lib.h"

#include <future>

#include "api/status_json.h"

namespace pgpilot {

Result<HttpReply> HttpGet(const std::string& base_url, const std::string& path, Duration timeout) {
  httplib::Client client(base_url);
  auto seconds = timeout.count() / 1000;
  auto micros = (timeout.count() % 1000) * 1000;
  client.set_connection_timeout(seconds, micros);
  client.set_read_timeout(seconds, micros);
  client.set_write_timeout(seconds, micros);
  auto res = client.Get(path);
  if (!res) return Unavailable(base_url + path + ": " + httplib::to_string(res.error()));
  return HttpReply{res->status, res->body};
}

std::vector<Candidate> CollectPeerPositions(const std::vector<MemberStatus>& members,
                                            const std::string& self, Duration timeout) {
  std::vector<std::future<Candidate>> pending;
  for (const auto& m : members) {
    if (m.name == self) continue;
    pending.push_back(std::async(std::launch::async, [m, timeout] {
      Candidate c;
      c.name = m.name;
      auto reply = HttpGet(m.api_url, "/status", timeout);
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
