// The agent's HTTP API: health endpoints, JSON status and Prometheus metrics, served from the
// published snapshot. cpp-httplib stays inside http_server.cc.
#pragma once

#include <memory>
#include <string>
#include <thread>

#include "agent/snapshot.h"
#include "core/result.h"
#include "platform/clock.h"

namespace pgpilot {

class HttpServer {
 public:
  HttpServer(const SnapshotBoard& board, const Clock& clock);
  ~HttpServer();
  // Binds at once (so a port in use is reported before anything else starts), then serves in a
  // background thread.
  Status Start(const std::string& host, int port);
  void Stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace pgpilot
