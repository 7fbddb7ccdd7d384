// Default timings and limits of the HA loop, in one place.
#pragma once

#include <cstdint>

#include "core/types.h"

namespace pgpilot {

inline constexpr Duration kDefaultTtl = std::chrono::seconds(10);
inline constexpr Duration kMinimumTtl = std::chrono::seconds(2);
inline constexpr Duration kDefaultLoopWait = std::chrono::seconds(1);
inline constexpr Duration kMinimumLoopWait = std::chrono::milliseconds(100);
inline constexpr uint64_t kDefaultMaximumLagOnFailover = 1024 * 1024;  // bytes, as Patroni
// After a background task (start, clone, rewind) fails, wait this long before trying again.
inline constexpr Duration kTaskRetryBackoff = std::chrono::seconds(3);
// How long the promote action waits for PostgreSQL to leave recovery before the next tick
// renews the lease and checks again. Short, because the lease is not renewed meanwhile: on a
// loaded machine the lease's acquisition, the history entry and this wait must all fit well
// inside ttl minus the safety margin, or the fence watchdog stops the member it just promoted.
inline constexpr Duration kPromoteWait = std::chrono::seconds(1);
// How often the promote action looks whether PostgreSQL has left recovery (pg_promote's own
// wait looks only every 100 ms).
inline constexpr Duration kPromotePoll = std::chrono::milliseconds(10);

}  // namespace pgpilot
