// Asks other members' APIs for their WAL positions before a failover decision.
#pragma once

#include <string>
#include <vector>

#include "api/api_client.h"
#include "core/candidates.h"
#include "core/cluster_view.h"
#include "core/result.h"
#include "core/types.h"

namespace pgpilot {

// One report per member of `members` other than `self`, in parallel, each bounded by `timeout`.
// An unreachable member is reported unreachable with the reason; nothing throws. `tls` is used for
// members whose API address is https:// (the agent's api.tls: its CA, its own certificate).
std::vector<Candidate> CollectPeerPositions(const std::vector<MemberStatus>& members,
                                            const std::string& self, Duration timeout,
                                            const ApiClientTls& tls = {});

// GET url (http://host:port/path) with a timeout; status and body, or an error.
Result<HttpReply> HttpGet(const std::string& base_url, const std::string& path, Duration timeout);

}  // namespace pgpilot
