#include "cli/cluster_table.h"

#include "core/member_requests.h"
#include "platform/json_text.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <cstdio>

namespace pgpilot {
namespace {

using nlohmann::json;

struct Row {
  std::string name, role, state, timeline, lsn, lag, api, reason;
  const MemberStatus* member = nullptr;
  std::optional<uint64_t> lag_bytes;
};

std::vector<Row> BuildRows(const ClusterView& view, const std::vector<std::string>& configured) {
  std::vector<std::string> names = configured;
  for (const auto& m : view.members) {
    if (std::find(names.begin(), names.end(), m.name) == names.end()) names.push_back(m.name);
  }
  std::sort(names.begin(), names.end());
  const MemberStatus* leader = view.leader ? view.FindMember(view.leader->holder) : nullptr;
  std::vector<Row> rows;
  for (const auto& name : names) {
    Row r;
    r.name = name;
    const MemberStatus* m = view.FindMember(name);
    if (m == nullptr) {
      r.role = "down";
      r.state = "-";
      r.timeline = r.lsn = r.lag = r.api = "-";
      r.reason = "no agent has reported for this member within its ttl";
      rows.push_back(r);
      continue;
    }
    r.member = m;
    r.role = m->role;
    if (view.leader && view.leader->holder == name && !view.leader->released && m->role == "primary") {
      r.role = "primary*";  // holds the lease
    }
    r.state = m->state;
    r.timeline = m->timeline ? std::to_string(m->timeline) : "-";
    r.lsn = m->wal_position.value ? m->wal_position.ToString() : "-";
    r.lag = "-";
    if (m->role == "replica" && leader != nullptr && leader != m) {
      r.lag_bytes = LsnDistance(leader->wal_position, m->wal_position);
      r.lag = std::to_string(*r.lag_bytes);
    }
    r.api = m->api_url;
    r.reason = m->reason;
    rows.push_back(r);
  }
  return rows;
}

// Left-aligned columns, two spaces apart.
std::string Columns(const std::vector<std::vector<std::string>>& cells) {
  std::vector<size_t> width(cells.front().size(), 0);
  for (const auto& line : cells) {
    for (size_t i = 0; i < line.size(); ++i) width[i] = std::max(width[i], line[i].size());
  }
  std::string out;
  for (const auto& line : cells) {
    std::string text;
    for (size_t i = 0; i < line.size(); ++i) {
      text += line[i];
      if (i + 1 < line.size()) text += std::string(width[i] - line[i].size() + 2, ' ');
    }
    out += text + "\n";
  }
  return out;
}

}  // namespace

std::string RenderHistoryTable(const std::vector<HistoryEntry>& history) {
  if (history.empty()) return "no timeline switches recorded (the cluster is on its first timeline)\n";
  std::vector<std::vector<std::string>> cells = {{"TL", "FROM", "AT", "OLD", "NEW", "TERM", "TIME", "REASON"}};
  for (const HistoryEntry& h : history) {
    cells.push_back({std::to_string(h.timeline), std::to_string(h.parent != 0 ? h.parent : h.timeline - 1),
                     h.switch_lsn.ToString(), h.old_leader.empty() ? "-" : h.old_leader, h.new_leader,
                     std::to_string(h.term), FormatWallTime(h.time), h.reason});
  }
  return Columns(cells);
}

std::string RenderClusterTable(const std::string& cluster, const ClusterView& view,
                               const std::vector<std::string>& configured) {
  std::string out = "Cluster " + cluster;
  if (view.initialize && view.initialize->complete()) out += " (system " + view.initialize->system_id + ")";
  if (view.leader) {
    out += view.leader->released ? ", lease released by " + view.leader->holder
                                 : ", leader " + view.leader->holder;
    out += " (term " + std::to_string(view.leader->term) + ", ttl " + FormatSeconds(view.leader->ttl) + ")";
  } else {
    out += ", no leader";
  }
  out += "\n";
  if (view.config && view.config->pause) out += "MAINTENANCE MODE: paused (`ctl resume` ends it)\n";
  std::vector<Row> rows = BuildRows(view, configured);
  std::vector<std::vector<std::string>> cells = {{"MEMBER", "ROLE", "STATE", "TL", "LSN", "LAG(B)", "API"}};
  for (const auto& r : rows) cells.push_back({r.name, r.role, r.state, r.timeline, r.lsn, r.lag, r.api});
  out += Columns(cells);
  bool any_star = std::any_of(rows.begin(), rows.end(), [](const Row& r) { return r.role == "primary*"; });
  if (any_star) out += "(* holds the leader lease)\n";
  if (view.sync) {
    std::string names;
    for (const auto& m : view.sync->members) names += (names.empty() ? "" : ", ") + m;
    out += "synchronous standbys of " + view.sync->leader + ": " + (names.empty() ? "none" : names) + "\n";
  }
  if (view.switchover) {
    out += "switchover from " + view.switchover->from + " to " + view.switchover->to + " pending" +
           (view.switchover->not_before.unix_ms > 0
                ? " (not before " + FormatWallTime(view.switchover->not_before) + ")"
                : std::string()) +
           "\n";
  }
  for (const auto& r : rows) {
    if (r.state != "primary" && r.state != "replica" && !r.reason.empty()) {
      out += r.name + ": " + r.reason + "\n";
    }
    if (r.member && r.member->pending_restart) {
      out += r.name + ": restart pending (a changed PostgreSQL parameter takes effect on restart)\n";
    }
    if (r.member && r.member->role == "primary" && !r.member->commit_overrides.empty()) {
      out += "warning: " + r.member->commit_overrides + ": those commits wait neither for synchronous "
             "standbys nor for the commit fence, and may be lost in a failover\n";
    }
  }
  if (view.requests) {
    for (const MemberRequest& request : view.requests->requests) {
      out += request.member + ": " + DescribeRequest(request) + " requested" +
             (request.refused.empty() ? std::string(", not carried out yet") : ", refused: " + request.refused) + "\n";
    }
  }
  return out;
}

std::string RenderClusterJson(const std::string& cluster, const ClusterView& view,
                              const std::vector<std::string>& configured) {
  json j;
  j["cluster"] = cluster;
  j["system_id"] = view.initialize ? view.initialize->system_id : "";
  if (view.leader) {
    j["leader"] = {{"holder", view.leader->holder}, {"term", view.leader->term},
                   {"ttl_ms", view.leader->ttl.count()}, {"released", view.leader->released},
                   {"lsn", view.leader->lsn.ToString()}, {"timeline", view.leader->timeline}};
  } else {
    j["leader"] = nullptr;
  }
  j["members"] = json::array();
  for (const auto& r : BuildRows(view, configured)) {
    json m = {{"name", r.name}, {"role", r.member ? r.member->role : "down"}, {"state", r.state},
              {"reason", r.reason}, {"holds_lease", r.role == "primary*"}};
    if (r.member) {
      m["timeline"] = r.member->timeline;
      m["lsn"] = r.member->wal_position.ToString();
      m["replayed_lsn"] = r.member->replayed.ToString();
      m["lag_bytes"] = r.lag_bytes ? json(*r.lag_bytes) : json(nullptr);
      m["streaming"] = r.member->streaming;
      m["upstream"] = r.member->upstream;
      m["api_url"] = r.member->api_url;
      m["host"] = r.member->host;
      m["port"] = r.member->port;
      m["term"] = r.member->term;
      m["agent_pid"] = r.member->agent_pid;
      m["postgres_pid"] = r.member->postgres_pid;
      m["nofailover"] = r.member->tags.nofailover;
      m["nosync"] = r.member->tags.nosync;
      m["pending_restart"] = r.member->pending_restart;
      m["commit_overrides"] = r.member->commit_overrides;
      m["version"] = r.member->version;
      m["updated_ms"] = r.member->updated.unix_ms;
    }
    j["members"].push_back(m);
  }
  j["paused"] = view.config && view.config->pause;
  j["sync"] = view.sync ? json{{"leader", view.sync->leader}, {"members", view.sync->members}} : json(nullptr);
  j["switchover"] = view.switchover ? json{{"from", view.switchover->from},
                                           {"to", view.switchover->to},
                                           {"not_before", FormatWallTime(view.switchover->not_before)}}
                                    : json(nullptr);
  j["history"] = json::array();
  for (const auto& h : view.history) {
    j["history"].push_back({{"timeline", h.timeline}, {"switch_lsn", h.switch_lsn.ToString()},
                            {"old_leader", h.old_leader}, {"new_leader", h.new_leader},
                            {"term", h.term}, {"time", FormatWallTime(h.time)}, {"reason", h.reason}});
  }
  return JsonText(j, 2);
}

namespace {

// The user part of a URI: anything but unreserved characters percent-encoded, so a name with
// '@', ':', '/', '%' or a space reaches libpq intact.
std::string UriEscape(const std::string& text) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

}  // namespace

std::string ClusterDsn(const std::vector<std::pair<std::string, int>>& hosts, const std::string& user,
                       bool replicas) {
  std::string out = "postgresql://" + UriEscape(user) + "@";
  for (size_t i = 0; i < hosts.size(); ++i) {
    if (i > 0) out += ",";
    bool v6 = hosts[i].first.find(':') != std::string::npos;
    out += (v6 ? "[" + hosts[i].first + "]" : hosts[i].first) + ":" + std::to_string(hosts[i].second);
  }
  out += "/postgres?target_session_attrs=";
  out += replicas ? "prefer-standby" : "read-write";
  out += "&connect_timeout=3";
  return out;
}

std::optional<std::string> ClusterNotHealthy(const ClusterView& view,
                                             const std::vector<std::string>& configured) {
  if (!view.initialize || !view.initialize->complete()) return std::string("the cluster is not initialized yet");
  if (!view.leader || view.leader->released) return std::string("no member holds the leader lease");
  const std::string& leader = view.leader->holder;
  const MemberStatus* primary = view.FindMember(leader);
  if (primary == nullptr || primary->role != "primary" || primary->state != "primary") {
    return "leader " + leader + " is not a running primary yet";
  }
  for (const auto& name : configured) {
    if (name == leader) continue;
    const MemberStatus* m = view.FindMember(name);
    if (m == nullptr) return name + " has not reported yet";
    if (m->role != "replica" || !m->streaming || m->upstream != leader) {
      return name + " is not streaming from " + leader + " yet (" + m->state + ": " + m->reason + ")";
    }
  }
  return std::nullopt;
}

}  // namespace pgpilot
