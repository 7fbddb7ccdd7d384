// Asks other members' APIs for their WAL positions before a failover decision.
#pragma once

#include <string>
#include <vector>

#include "core/candidates.h"
#include "core/cluster_view.h"
#include "core/result.h"
#include "core/types.h"

namespace pgpilot {

// One report per member of `members` other than `self`, in parallel, each bounded by `timeout`.
// An unreachable member is reported unreachable with the reason; nothing throws.
std::vector<Candidate> CollectPeerPositions(const std::vector<MemberStatus>& members,
                                            const std::string& self, Duration timeout);

// GET url (http://host:port/path) with a timeout; status and body, or an error.
struct HttpReply {
  int status = 0;
  std::string body;
};
Result<HttpReply> HttpGet(const std::string& base_url, const std::string& path, Duration timeout);

}  // namespace pgpilot
