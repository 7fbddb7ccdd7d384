// JSON bodies of GET /status and /cluster, and parsing a peer's /status back.
#pragma once

#include <string>

#include "agent/snapshot.h"
#include "core/candidates.h"
#include "core/result.h"

namespace pgpilot {

std::string StatusJson(const AgentSnapshot& snapshot, MonoTime now);
// The cluster as this agent last read it from the store: name, leader, members, history, and the
// pending switchover, requests, sync record and cluster-wide config when there are any.
std::string ClusterJson(const AgentSnapshot& snapshot);
// ClusterJson's body back as a view (what `ctl --api` reads); an error when the agent had none.
struct ClusterReport {
  std::string cluster;
  ClusterView view;
};
Result<ClusterReport> ParseClusterJson(const std::string& body);
// A peer's /status body as a failover candidate.
Result<Candidate> ParsePeerStatus(const std::string& body);

}  // namespace pgpilot
