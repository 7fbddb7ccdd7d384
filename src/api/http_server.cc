#include "api/http_server.h"

#include <pthread.h>
#include <signal.h>

#include "platform/http_lib.h"

#include "api/health.h"
#include "api/metrics.h"
#include "api/status_json.h"
#include "platform/files.h"
#include "platform/log.h"

namespace pgpilot {

struct HttpServer::Impl {
  const SnapshotBoard& board;
  const Clock& clock;
  HttpServerOptions options;
  std::unique_ptr<httplib::Server> server;  // an httplib::SSLServer with TLS
  std::thread thread;
};

namespace {

// The server, plain or with TLS (the key must be private, like every secret file).
Result<std::unique_ptr<httplib::Server>> MakeServer(const ApiTlsSettings& tls) {
  if (!tls.enabled()) return std::make_unique<httplib::Server>();
  if (auto key = ReadSecretFile(tls.key_file, "api.tls.key_file"); !key.ok()) return key.error();
  auto server = std::make_unique<httplib::SSLServer>(
      tls.cert_file.c_str(), tls.key_file.c_str(),
      tls.client_ca_file.empty() ? nullptr : tls.client_ca_file.c_str());
  if (!server->is_valid()) {
    return InvalidArgument("cannot serve HTTPS with api.tls.cert_file " + tls.cert_file + " and key_file " +
                               tls.key_file +
                               (tls.client_ca_file.empty() ? "" : " and client_ca_file " + tls.client_ca_file),
                           "check that the files exist, are readable by the agent's user, are PEM, and that "
                           "the key matches the certificate");
  }
  return std::unique_ptr<httplib::Server>(std::move(server));
}

// A changing call: authenticated first, then carried out by the handler; logged either way
// (who, from where, what happened; never a credential).
void ServeChangingCall(const HttpServerOptions& options, const std::string& method, const std::string& path,
                       const httplib::Request& req, httplib::Response& res) {
  const std::string call = method + " " + path;
  const std::string from = req.remote_addr;
  AuthOutcome auth = CheckAuthorization(options.credentials, req.get_header_value("Authorization"));
  if (!auth.allowed()) {
    res.status = auth.status;
    for (const std::string& challenge : auth.challenges) res.set_header("WWW-Authenticate", challenge);
    res.set_content(RefusalJson(auth.problem, auth.hint), "application/json");
    LogWarn("API: refused " + call + " from " + from + " (" + std::to_string(auth.status) + "): " + auth.problem);
    return;
  }
  if (options.changing == nullptr) {
    res.status = 503;
    res.set_content(RefusalJson("this agent serves no changing calls", ""), "application/json");
    return;
  }
  ApiAnswer answer = options.changing->Handle(method, path, req.body);
  res.status = answer.status;
  res.set_content(answer.body, "application/json");
  LogInfo("API: " + call + " from " + from + " (" + auth.who + "): " + std::to_string(answer.status) + " " +
          answer.summary);
}

}  // namespace

HttpServer::HttpServer(const SnapshotBoard& board, const Clock& clock, HttpServerOptions options)
    : impl_(new Impl{board, clock, std::move(options), {}, {}}) {}

HttpServer::~HttpServer() { Stop(); }

Status HttpServer::Start(const std::string& host, int port) {
  Impl& impl = *impl_;
  auto made = MakeServer(impl.options.tls);
  if (!made.ok()) return made.error();
  impl.server = std::move(*made);
  httplib::Server& server = *impl.server;
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
    server.Get(path, handler);
    server.Options(path, handler);
  }
  for (const ChangingCall& call : ChangingCalls()) {
    std::string method = call.method, path = call.path;
    auto handler = [&impl, method, path](const httplib::Request& req, httplib::Response& res) {
      ServeChangingCall(impl.options, method, path, req, res);
    };
    if (method == "POST") server.Post(path, handler);
    if (method == "PATCH") server.Patch(path, handler);
    if (method == "DELETE") server.Delete(path, handler);
  }
  server.Get("/status", [&impl, with_snapshot](const httplib::Request&, httplib::Response& res) {
    auto snap = with_snapshot(res);
    if (snap) res.set_content(StatusJson(*snap, impl.clock.Now()), "application/json");
  });
  server.Get("/cluster", [with_snapshot](const httplib::Request&, httplib::Response& res) {
    auto snap = with_snapshot(res);
    if (snap) res.set_content(ClusterJson(*snap), "application/json");
  });
  server.Get("/metrics", [&impl](const httplib::Request&, httplib::Response& res) {
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
  server.set_socket_options([](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  });
  // Small answers on kept-alive connections: without TCP_NODELAY each one waits for the client's
  // delayed ACK (Nagle), about 40 ms.
  server.set_tcp_nodelay(true);
  server.set_keep_alive_max_count(1000);
  server.set_read_timeout(5, 0);
  server.set_write_timeout(5, 0);
  server.set_payload_max_length(64 * 1024);  // the changing calls' bodies are a few bytes
  if (!server.bind_to_port(host, port)) {
    return FailedPrecondition("cannot listen for the API on " + host + ":" + std::to_string(port) +
                                  " (port in use, or not an address of this machine)",
                              "stop the process using it or set api.listen to a free HOST:PORT");
  }
  impl.thread = std::thread([&impl] {
    // OpenSSL writes without MSG_NOSIGNAL: a client that hangs up must not kill the process with
    // SIGPIPE. httplib's worker threads start from this one and inherit the blocked signal.
    sigset_t pipe;
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe, nullptr);
    impl.server->listen_after_bind();
  });
  return Status::Ok();
}

void HttpServer::Stop() {
  if (!impl_ || !impl_->server) return;
  impl_->server->stop();
  if (impl_->thread.joinable()) impl_->thread.join();
}

}  // namespace pgpilot
