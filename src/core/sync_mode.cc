#include "core/sync_mode.h"

namespace pgpilot {

const char* SyncModeName(SyncMode mode) {
  switch (mode) {
    case SyncMode::kOff: return "off";
    case SyncMode::kOn: return "on";
    case SyncMode::kStrict: return "strict";
  }
  return "off";
}

std::optional<SyncMode> ParseSyncMode(std::string_view text) {
  for (SyncMode mode : {SyncMode::kOff, SyncMode::kOn, SyncMode::kStrict}) {
    if (text == SyncModeName(mode)) return mode;
  }
  return std::nullopt;
}

}  // namespace pgpilot
