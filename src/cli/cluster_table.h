// What `ctl list` and `up` print: the cluster table, its JSON form, connection strings.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "agent/config.h"
#include "core/cluster_view.h"

namespace pgpilot {

// `configured` lists members known from configs, shown as "down" when absent from the store.
std::string RenderClusterTable(const std::string& cluster, const ClusterView& view,
                               const std::vector<std::string>& configured);
// The history as a table: timeline, where it began, its parent, the change, term, time, reason.
std::string RenderHistoryTable(const std::vector<HistoryEntry>& history);

std::string RenderClusterJson(const std::string& cluster, const ClusterView& view,
                              const std::vector<std::string>& configured);

// A libpq URI listing every member; read-write reaches the primary, --replicas prefers replicas.
std::string ClusterDsn(const std::vector<std::pair<std::string, int>>& hosts,
                       const std::string& user, bool replicas);

// nullopt when one member holds the lease as a running primary and every other configured member
// streams from it; otherwise what is missing.
std::optional<std::string> ClusterNotHealthy(const ClusterView& view,
                                             const std::vector<std::string>& configured);

}  // namespace pgpilot
