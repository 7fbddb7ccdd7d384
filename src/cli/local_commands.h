// `pgpilot up` and `pgpilot down`: a whole cluster on one machine, as background processes.
#pragma once

#include <string>

#include "cli/local_cluster.h"

namespace pgpilot {

struct UpOptions {
  LocalClusterSpec spec;
  Duration wait{120000};  // how long to wait for a healthy cluster
  std::string pg_tls_dir;  // --pg-tls: cert.pem, key.pem, ca.pem for a new cluster's members
};

int RunUp(const UpOptions& options);
int RunDown(const std::string& dir, Duration wait);

}  // namespace pgpilot
