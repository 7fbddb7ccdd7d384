// JSON bodies of GET /status and /cluster, and parsing a peer's /status back.
#pragma once

#include <string>

#include "agent/snapshot.h"
#include "core/candidates.h"
#include "core/result.h"

namespace pgpilot {

std::string StatusJson(const AgentSnapshot& snapshot, MonoTime now);
std::string ClusterJson(const AgentSnapshot& snapshot);
// A peer's /status body as a failover candidate.
Result<Candidate> ParsePeerStatus(const std::string& body);

}  // namespace pgpilot
