// What a data directory holds (nothing, a PostgreSQL cluster, half of one, something else), and
// what pg_controldata says about it.
#pragma once

#include <sys/types.h>

#include <string>

#include "core/local_state.h"
#include "core/result.h"

namespace pgpilot {

struct DataDirInspection {
  DataDirKind kind = DataDirKind::kMissing;
  std::string detail;  // for kForeign: what is wrong and what to do
};

// Never modifies anything. `expected_owner` is the uid the agent runs as.
DataDirInspection InspectDataDir(const std::string& path, uid_t expected_owner);

struct ControlData {
  std::string system_id;
  std::string cluster_state;     // "in production", "shut down in recovery", ...
  Timeline timeline = 0;         // latest checkpoint's timeline
  Lsn checkpoint_lsn;            // latest checkpoint location (after a clean stop: the last record)
  bool was_primary = false;      // last ran (or stopped) as a primary
};

// Parses `pg_controldata` output (run with LC_ALL=C).
Result<ControlData> ParseControlData(const std::string& output);

}  // namespace pgpilot
