// Fuzz target: the agent's HTTP API as it runs in the agent: the real HttpServer (cpp-httplib's
// request parsing, pgpilot's routes and handlers) on a loopback port, each input written to a
// fresh connection. The first byte chooses the snapshot the API serves; the rest is the request
// bytes. The server must answer (or close) within 10 s and never crash; see fuzz/README.md.
// The changing calls' authentication runs too (against the credentials below).
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "api/http_server.h"
#include "loopback.h"
#include "platform/clock.h"
#include "platform/net.h"
#include "sample_cluster.h"

namespace {

using namespace pgpilot;

constexpr auto kAnswerTimeout = std::chrono::seconds(10);

// The credentials the changing calls are checked against (the seeds carry them); no handler
// stands behind them, so an authenticated call is answered 503 and changes nothing.
HttpServerOptions Options() {
  HttpServerOptions options;
  options.credentials.token = "fuzz-token-7rT9kQ2mX4";
  options.credentials.username = "operator";
  options.credentials.password = "fuzz-password-Vb8n";
  return options;
}

struct Api {
  RealClock clock;
  SnapshotBoard board;
  HttpServer server{board, clock, Options()};
  int port = 0;
};

// Started once per process and never stopped: every input talks to the same server, as clients
// of a running agent do.
Api& TheApi() {
  static Api* api = [] {
    auto* a = new Api;
    for (int attempt = 0; attempt < 20 && a->port == 0; ++attempt) {
      int port = FreeLoopbackPort();
      if (port != 0 && a->server.Start("127.0.0.1", port).ok()) a->port = port;
    }
    if (a->port == 0) {
      std::fprintf(stderr, "http_api fuzzer: cannot start the API on a loopback port\n");
      std::abort();
    }
    return a;
  }();
  return *api;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  Api& api = TheApi();
  // 0: before the first loop (503 everywhere); 1: the primary; 2: a streaming replica;
  // 3: a replica that cannot reach the store.
  int variant = data[0] % 4;
  api.board.Publish(variant == 0 ? nullptr : fuzz::SampleSnapshot(variant - 1, api.clock.Now()));

  int fd = fuzz::ConnectLoopback(api.port);
  if (fd < 0) {
    std::perror("http_api fuzzer: connect");
    std::abort();
  }
  // The server may answer and close before reading everything (a 400 for a bad request line):
  // a failed write is not a finding, an answer that never ends is.
  std::string_view request(reinterpret_cast<const char*>(data) + 1, size - 1);
  (void)fuzz::WriteAll(fd, request);
  shutdown(fd, SHUT_WR);
  std::string answer;
  if (fuzz::ReadUntilClosed(fd, kAnswerTimeout, &answer) == fuzz::ReadEnd::kTimedOut) {
    std::fprintf(stderr, "http_api fuzzer: the server neither answered nor closed within %llds "
                 "(answer so far: %zu bytes)\n",
                 static_cast<long long>(kAnswerTimeout.count()), answer.size());
    std::abort();
  }
  close(fd);
  return 0;
}
