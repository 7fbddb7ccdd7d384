#include "api/http_server.h"

#include "platform/http_lib.h"

#include "api/health.h"
#include "api/metrics.h"
#include "api/status_json.h"

namespace pgpilot {

struct HttpServer::Impl {
  const SnapshotBoard& board;
  const Clock& clock;
  httplib::Server server;
  std::thread thread;
};

HttpServer::HttpServer(const SnapshotBoard& board, const Clock& clock)
    : impl_(new Impl{board, clock, {}, {}}) {}

HttpServer::~HttpServer() { Stop(); }

Status HttpServer::Start(const std::string& host, int port) {
  Impl& impl = *impl_;
  auto with_snapshot = [&impl](httplib::Response& res) -> std::shared_ptr<const AgentSnapshot> {
    auto snap = impl.board.Current();
    if (!snap) {
      res.status = 503;
      res.set_content("{\"error\":\"the agent has not completed its first loop\"}", "application/json");
    }
    return snap;
  };
  for (const HealthRoute& route : HealthRoutes()) {
    std::string path = route.path;
    auto handler = [&impl, path, with_snapshot](const httplib::Request& req, httplib::Response& res) {
      auto snap = with_snapshot(res);
      if (!snap) return;
      HealthQuery query;
      if (req.has_param("lag")) {
        char* end = nullptr;
        std::string text = req.get_param_value("lag");
        unsigned long long lag = std::strtoull(text.c_str(), &end, 10);
        if (text.empty() || *end != '\0') {
          res.status = 400;
          res.set_content("{\"error\":\"lag must be a number of bytes\"}", "application/json");
          return;
        }
        query.max_lag_bytes = lag;
      }
      MonoTime now = impl.clock.Now();
      res.status = HealthStatus(path, *snap, query, now).value_or(404);
      res.set_content(StatusJson(*snap, now), "application/json");
    };
    impl.server.Get(path, handler);
    impl.server.Options(path, handler);
  }
  impl.server.Get("/status", [&impl, with_snapshot](const httplib::Request&, httplib::Response& res) {
    auto snap = with_snapshot(res);
    if (snap) res.set_content(StatusJson(*snap, impl.clock.Now()), "application/json");
  });
  impl.server.Get("/cluster", [with_snapshot](const httplib::Request&, httplib::Response& res) {
    auto snap = with_snapshot(res);
    if (snap) res.set_content(ClusterJson(*snap), "application/json");
  });
  impl.server.Get("/metrics", [&impl](const httplib::Request&, httplib::Response& res) {
    auto snap = impl.board.Current();
    if (!snap) {
      res.status = 503;
      res.set_content("the agent has not completed its first loop\n", "text/plain; charset=utf-8");
      return;
    }
    res.set_content(RenderMetrics(*snap, impl.clock.Now()), kMetricsContentType);
  });
  // SO_REUSEADDR only: httplib's default also sets SO_REUSEPORT, which would let a second agent
  // bind the same API port and share its connections.
  impl.server.set_socket_options([](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  });
  // Small answers on kept-alive connections: without TCP_NODELAY each one waits for the client's
  // delayed ACK (Nagle), about 40 ms.
  impl.server.set_tcp_nodelay(true);
  impl.server.set_keep_alive_max_count(1000);
  impl.server.set_read_timeout(5, 0);
  impl.server.set_write_timeout(5, 0);
  if (!impl.server.bind_to_port(host, port)) {
    return FailedPrecondition("cannot listen for the API on " + host + ":" + std::to_string(port) +
                                  " (port in use, or not an address of this machine)",
                              "stop the process using it or set api.listen to a free HOST:PORT");
  }
  impl.thread = std::thread([&impl] { impl.server.listen_after_bind(); });
  return Status::Ok();
}

void HttpServer::Stop() {
  if (!impl_) return;
  impl_->server.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
}

}  // namespace pgpilot
