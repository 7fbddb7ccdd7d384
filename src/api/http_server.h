// The agent's HTTP API: health endpoints, JSON status and Prometheus metrics, served from the
// published snapshot and open to anyone who can connect; and the changing calls (changing_calls.h),
// each refused unless it carries the configured credentials (api_auth.h). HTTPS when api.tls names
// a certificate. cpp-httplib stays inside http_server.cc.
#pragma once

#include <memory>
#include <string>
#include <thread>

#include "agent/snapshot.h"
#include "api/api_auth.h"
#include "api/api_settings.h"
#include "api/changing_calls.h"
#include "core/result.h"
#include "platform/clock.h"

namespace pgpilot {

struct HttpServerOptions {
  ApiTlsSettings tls;                         // HTTPS when tls.enabled()
  ApiCredentials credentials;                 // none configured: every changing call gets 403
  ChangingCallHandler* changing = nullptr;    // null: changing calls answer 503
};

class HttpServer {
 public:
  HttpServer(const SnapshotBoard& board, const Clock& clock, HttpServerOptions options = {});
  ~HttpServer();
  // Loads the TLS files (the key must be private) and binds at once (so a port in use or a bad
  // certificate is reported before anything else starts), then serves in a background thread.
  Status Start(const std::string& host, int port);
  void Stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace pgpilot
