// The health endpoints as data: path -> (status code, meaning), decided from a snapshot alone.
#pragma once

#include <optional>
#include <span>
#include <string>

#include "agent/snapshot.h"

namespace pgpilot {

struct HealthRoute {
  const char* path;
  const char* meaning;  // when it answers 200
};

// GET /primary, /replica, /read-only, /health, /liveness, /readiness.
std::span<const HealthRoute> HealthRoutes();

struct HealthQuery {
  std::optional<uint64_t> max_lag_bytes;  // /replica?lag=N
};

// 200 or 503 for a health path; nullopt for a path that is not a health path.
std::optional<int> HealthStatus(const std::string& path, const AgentSnapshot& snapshot,
                                const HealthQuery& query, MonoTime now);

// Bytes this member is behind the leader's last published position, when known.
std::optional<uint64_t> ReplicationLag(const AgentSnapshot& snapshot);

}  // namespace pgpilot
