// Deliberately unsafe variants of the decision, for proving the simulator catches what it claims
// to catch. They exist only in the simulator: nothing in the agent's configuration reaches them.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/decide.h"

namespace pgpilot::sim {

enum class Variant {
  kNone,               // the real decision
  kNoLeaseWait,        // replicas treat a valid lease of another member as expired
  kWriteWithoutLease,  // a primary that cannot prove its lease keeps running (fence and watchdog off)
  kInitdbInitialized,  // an empty data directory in an initialized cluster is initdb'd, not cloned
  kUnreservedTimeline, // promote without recording the new timeline first; PostgreSQL numbers it
  kOutsideSyncSet,     // synchronous mode: candidates ignore the sync set (runs in synchronous mode)
};

struct VariantInfo {
  Variant variant;
  const char* name;
  const char* description;
};
const std::vector<VariantInfo>& AllVariants();  // the unsafe ones
std::optional<Variant> ParseVariant(std::string_view name);
const char* VariantName(Variant variant);

// Decide, as the variant would. For kNone exactly Decide(observation).
Decision DecideAs(Variant variant, const Observation& observation);

// Whether the variant also keeps the fence watchdog from ever being armed.
bool DisablesWatchdog(Variant variant);

}  // namespace pgpilot::sim
