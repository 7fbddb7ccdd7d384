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
// How long a caller waits for pg_promote() before the next tick retries.
inline constexpr Duration kPromoteWait = std::chrono::seconds(2);

}  // namespace pgpilot
