// `pgpilot ctl`: operate a cluster through its store (and, later, the agents' APIs).
#pragma once

#include <string>

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

}  // namespace pgpilot
