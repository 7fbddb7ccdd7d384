// The API server as a client sees it, over real sockets: the read-only routes are open, every
// changing call is authenticated first (401 with a challenge, 403 without api.auth), and with
// api.tls it speaks only HTTPS, verifying client certificates when a client CA is set.
#include "api/http_server.h"

#include <filesystem>
#include <memory>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "api/api_client.h"
#include "platform/net.h"
#include "platform/http_lib.h"
#include "store/open_store.h"
#include "support/temp_dir.h"
#include "support/test_certificates.h"

namespace pgpilot {
namespace {

using ::testing::HasSubstr;

// An agent's API over a SQLite store in a scratch directory, with a published snapshot.
class ApiServer {
 public:
  ApiServer(const testing::ScratchDir& dir, ApiCredentials credentials, ApiTlsSettings tls = {}) {
    store_.sqlite_path = dir.path() + "/store.db";
    handler_ = std::make_unique<ChangingCallHandler>(
        [this] { return OpenStore(store_, "orders", clock_); }, clock_, 0);
    auto snapshot = std::make_shared<AgentSnapshot>();
    snapshot->cluster_name = "orders";
    snapshot->member.name = "pg-0";
    snapshot->member.role = "replica";
    snapshot->last_loop = clock_.Now();
    snapshot->ttl = Duration(10000);
    board_.Publish(snapshot);
    server_ = std::make_unique<HttpServer>(board_, clock_, HttpServerOptions{tls, std::move(credentials), handler_.get()});
    port_ = FreeLoopbackPort();
    start_ = server_->Start("127.0.0.1", port_);
  }
  const Status& start() const { return start_; }
  std::string Url(bool https = false) const {
    return std::string(https ? "https" : "http") + "://127.0.0.1:" + std::to_string(port_);
  }
  bool Paused() {
    auto store = OpenStore(store_, "orders", clock_);
    if (!store.ok()) return false;
    auto view = (*store)->Load();
    return view.ok() && view->config && view->config->pause;
  }

 private:
  RealClock clock_;
  StoreConfig store_;
  SnapshotBoard board_;
  std::unique_ptr<ChangingCallHandler> handler_;
  std::unique_ptr<HttpServer> server_;
  int port_ = 0;
  Status start_;
};

Result<HttpReply> Call(const std::string& url, const std::string& method, const std::string& path,
                       const std::string& authorization = "", ApiClientTls tls = {}) {
  ApiClientOptions options;
  options.authorization = authorization;
  options.tls = std::move(tls);
  options.timeout = Duration(5000);
  return ApiCall(url, method, path, "", options);
}

TEST(HttpServer, ReadOnlyRoutesAreOpenAndChangingCallsAreRefusedWithoutApiAuth) {
  testing::ScratchDir dir("pgpilot-http-server-test");
  ApiServer api(dir, ApiCredentials{});
  ASSERT_TRUE(api.start().ok()) << api.start().ToString();
  for (const char* path : {"/status", "/cluster", "/metrics", "/health", "/liveness"}) {
    auto reply = Call(api.Url(), "GET", path);
    ASSERT_TRUE(reply.ok()) << path << ": " << reply.error().ToString();
    EXPECT_NE(reply->status, 401) << path;
    EXPECT_NE(reply->status, 403) << path;
    EXPECT_NE(reply->status, 404) << path;
  }
  for (const ChangingCall& call : ChangingCalls()) {
    auto reply = Call(api.Url(), call.method, call.path, "Bearer anything");
    ASSERT_TRUE(reply.ok()) << reply.error().ToString();
    EXPECT_EQ(reply->status, 403) << call.method << " " << call.path;
    EXPECT_THAT(reply->body, HasSubstr("api.auth")) << call.path;
  }
  EXPECT_FALSE(api.Paused());
}

TEST(HttpServer, EveryChangingCallNeedsTheTokenAndGets401WithAChallengeOtherwise) {
  testing::ScratchDir dir("pgpilot-http-server-test");
  ApiServer api(dir, ApiCredentials{"the-token", "", ""});
  ASSERT_TRUE(api.start().ok()) << api.start().ToString();
  httplib::Client client(api.Url());
  for (const ChangingCall& call : ChangingCalls()) {
    httplib::Request request;
    request.method = call.method;
    request.path = call.path;
    for (const char* authorization : {"", "Bearer wrong-token", "Basic dXNlcjpwdw=="}) {
      httplib::Request r = request;
      if (*authorization) r.set_header("Authorization", authorization);
      auto res = client.send(r);
      ASSERT_TRUE(res) << httplib::to_string(res.error());
      EXPECT_EQ(res->status, 401) << call.method << " " << call.path << " with '" << authorization << "'";
      EXPECT_EQ(res->get_header_value("WWW-Authenticate"), "Bearer realm=\"pgpilot\"") << call.path;
      EXPECT_THAT(res->body, ::testing::Not(HasSubstr("wrong-token")));
    }
  }
  EXPECT_FALSE(api.Paused()) << "no refused call changed anything";
  auto paused = Call(api.Url(), "POST", "/pause", "Bearer the-token");
  ASSERT_TRUE(paused.ok()) << paused.error().ToString();
  EXPECT_EQ(paused->status, 200) << paused->body;
  EXPECT_TRUE(api.Paused());
}

// The certificates of the test CA, made once (openssl takes a few seconds).
class HttpServerTls : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new testing::ScratchDir("pgpilot-http-tls-test");
    auto certs = testing::MakeTestCertificates(dir_->path());
    ASSERT_TRUE(certs.ok()) << certs.error().ToString();
    certs_ = new testing::TestCertificates(*certs);
  }
  static void TearDownTestSuite() {
    delete certs_;
    delete dir_;
  }
  static testing::ScratchDir* dir_;
  static testing::TestCertificates* certs_;
};
testing::ScratchDir* HttpServerTls::dir_ = nullptr;
testing::TestCertificates* HttpServerTls::certs_ = nullptr;

TEST_F(HttpServerTls, ServesHttpsThatClientsVerifyWithTheCa) {
  testing::ScratchDir dir("pgpilot-http-server-test");
  ApiServer api(dir, ApiCredentials{"the-token", "", ""},
                ApiTlsSettings{certs_->server_cert, certs_->server_key, "", ""});
  ASSERT_TRUE(api.start().ok()) << api.start().ToString();
  auto verified = Call(api.Url(true), "GET", "/status", "", ApiClientTls{certs_->ca, "", ""});
  ASSERT_TRUE(verified.ok()) << verified.error().ToString();
  EXPECT_EQ(verified->status, 200);
  auto pause = Call(api.Url(true), "POST", "/pause", "Bearer the-token", ApiClientTls{certs_->ca, "", ""});
  ASSERT_TRUE(pause.ok()) << pause.error().ToString();
  EXPECT_EQ(pause->status, 200) << pause->body;
  // Without the CA the server's certificate is not trusted; plain HTTP gets no answer either.
  auto unverified = Call(api.Url(true), "GET", "/status");
  ASSERT_FALSE(unverified.ok());
  EXPECT_THAT(unverified.error().message, HasSubstr("not signed by a trusted CA"));
  EXPECT_THAT(unverified.error().hint, HasSubstr("--api-ca-file"));
  auto plain = Call(api.Url(false), "GET", "/status");
  EXPECT_TRUE(!plain.ok() || plain->status >= 400) << plain->body;
}

TEST_F(HttpServerTls, WithAClientCaEveryConnectionNeedsACertificateItSigned) {
  testing::ScratchDir dir("pgpilot-http-server-test");
  ApiServer api(dir, ApiCredentials{"the-token", "", ""},
                ApiTlsSettings{certs_->server_cert, certs_->server_key, certs_->ca, ""});
  ASSERT_TRUE(api.start().ok()) << api.start().ToString();
  auto without = Call(api.Url(true), "GET", "/status", "", ApiClientTls{certs_->ca, "", ""});
  EXPECT_FALSE(without.ok()) << "answered " << without->status;
  auto with = Call(api.Url(true), "GET", "/status", "", ApiClientTls{certs_->ca, certs_->client_cert, certs_->client_key});
  ASSERT_TRUE(with.ok()) << with.error().ToString();
  EXPECT_EQ(with->status, 200);
}

TEST_F(HttpServerTls, AKeyOthersMayReadOrAMissingCertificateStopsTheStart) {
  testing::ScratchDir dir("pgpilot-http-server-test");
  std::string open_key = dir.path() + "/open.key";
  std::filesystem::copy_file(certs_->server_key, open_key);
  std::filesystem::permissions(open_key, std::filesystem::perms(0644));
  ApiServer readable(dir, ApiCredentials{}, ApiTlsSettings{certs_->server_cert, open_key, "", ""});
  ASSERT_FALSE(readable.start().ok());
  EXPECT_THAT(readable.start().error().message, HasSubstr("api.tls.key_file"));
  EXPECT_THAT(readable.start().error().hint, HasSubstr("chmod 600"));
  ApiServer missing(dir, ApiCredentials{}, ApiTlsSettings{dir.path() + "/none.pem", certs_->server_key, "", ""});
  ASSERT_FALSE(missing.start().ok());
  EXPECT_THAT(missing.start().error().message, HasSubstr("api.tls.cert_file"));
}

}  // namespace
}  // namespace pgpilot
