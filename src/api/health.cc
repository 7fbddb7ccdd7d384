#include "api/health.h"

#include <string_view>

namespace pgpilot {
namespace {

constexpr HealthRoute kRoutes[] = {
    {"/primary", "this member holds the leader lease and PostgreSQL accepts writes"},
    {"/replica", "PostgreSQL runs as a replica and accepts reads (?lag=BYTES limits lag); never on a "
                 "member tagged noloadbalance"},
    {"/read-only", "PostgreSQL accepts reads (primary or replica)"},
    {"/health", "PostgreSQL is running and accepting connections"},
    {"/liveness", "the HA loop ran recently (within ttl on a primary, 2 x ttl elsewhere)"},
    {"/readiness", "the member can serve: leader primary, or a running replica"},
};

bool IsPrimary(const AgentSnapshot& s) { return s.member.role == "primary" && s.holds_lease; }
bool IsReplica(const AgentSnapshot& s) { return s.member.role == "replica"; }

}  // namespace

std::span<const HealthRoute> HealthRoutes() { return kRoutes; }

std::optional<uint64_t> ReplicationLag(const AgentSnapshot& s) {
  if (!s.cluster || !s.cluster->leader) return std::nullopt;
  const MemberStatus* leader = s.cluster->FindMember(s.cluster->leader->holder);
  if (leader == nullptr) return std::nullopt;
  return LsnDistance(leader->wal_position, s.member.wal_position);
}

std::optional<int> HealthStatus(const std::string& path, const AgentSnapshot& s,
                                const HealthQuery& query, MonoTime now) {
  auto code = [](bool ok) { return ok ? 200 : 503; };
  if (path == "/primary") return code(IsPrimary(s));
  if (path == "/replica") {
    if (!IsReplica(s) || s.member.tags.noloadbalance) return 503;
    if (query.max_lag_bytes) {
      auto lag = ReplicationLag(s);
      return code(lag && *lag <= *query.max_lag_bytes);
    }
    return 200;
  }
  if (path == "/read-only") return code(IsPrimary(s) || IsReplica(s));
  if (path == "/health") return code(s.member.role == "primary" || IsReplica(s));
  if (path == "/liveness") {
    Duration allowed = s.holds_lease ? s.ttl : s.ttl * 2;
    return code(now - s.last_loop <= allowed);
  }
  if (path == "/readiness") return code(IsPrimary(s) || IsReplica(s));
  return std::nullopt;
}

}  // namespace pgpilot
