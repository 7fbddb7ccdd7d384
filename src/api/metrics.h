// GET /metrics: the agent's published snapshot in the Prometheus text exposition format 0.0.4.
#pragma once

#include <span>
#include <string>

#include "agent/snapshot.h"
#include "core/types.h"

namespace pgpilot {

inline constexpr const char* kMetricsContentType = "text/plain; version=0.0.4; charset=utf-8";

enum class MetricType { kGauge, kCounter, kHistogram };

// One metric family: its name (with the `pgpilot_` prefix, base units, `_total` for counters),
// its type and what it means.
struct MetricFamily {
  const char* name;
  MetricType type;
  const char* help;
};

// Every family RenderMetrics may write, in the order it writes them.
std::span<const MetricFamily> MetricFamilies();

// Every series carries the labels `cluster` and `member`; counters count from the agent's start.
// `now` is the moment of the request, for the age of the last loop. A family without a value
// (e.g. the WAL positions of a member that is neither primary nor replica) is left out whole.
std::string RenderMetrics(const AgentSnapshot& snapshot, MonoTime now);

}  // namespace pgpilot
