// `pgpilot ctl`: operate a cluster through its store (and, later, the agents' APIs).
#pragma once

#include <string>

#include "core/types.h"

namespace pgpilot {

// Which cluster: a directory made by `up`, an agent config, or a store address and cluster name.
struct CtlTarget {
  std::string dir;
  std::string config;
  std::string store;
  std::string cluster;
};

int CtlList(const CtlTarget& target, bool json);
int CtlDsn(const CtlTarget& target, bool replicas);

struct SwitchoverOptions {
  std::string to;        // empty: the best eligible replica
  std::string at;        // UTC time "2026-12-02T10:00:00Z"; empty: now
  bool force = false;    // skip the lag check
  Duration wait{60000};  // how long to wait for the new primary (immediate switchovers)
};
// Writes the switchover request to the store and waits until the target leads (or the leader
// drops the request, saying why). Exit status 0 when done (or scheduled), 1 when refused or not
// done in time, 2 on bad input.
int CtlSwitchover(const CtlTarget& target, const SwitchoverOptions& options);

}  // namespace pgpilot
