// Synchronous replication modes, by name.
#pragma once

#include <optional>
#include <string_view>

namespace pgpilot {

enum class SyncMode {
  kOff,     // asynchronous replication
  kOn,      // commits wait for the synchronous standbys while there are any
  kStrict,  // commits wait even when there is none (writes stop rather than go unprotected)
};
const char* SyncModeName(SyncMode mode);  // "off", "on", "strict"
std::optional<SyncMode> ParseSyncMode(std::string_view text);

}  // namespace pgpilot
