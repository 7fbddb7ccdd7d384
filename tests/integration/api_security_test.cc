// The agent's API on real clusters (`pgpilot up`, real PostgreSQL 15), as docs/security.md
// promises it:
// - plain HTTP: the read-only routes answer anybody; every changing call without the cluster's
//   token, with a wrong or truncated one, or with basic credentials it does not accept, is refused
//   with 401 and a challenge and changes nothing; `ctl --dir DIR --api URL`, which finds the token
//   `up` generated, switches over through the API for real; the agents log who did what, and no
//   log holds the token;
// - HTTPS with client certificates required: the agents still form a cluster; `ctl --api https://`
//   with the CA, a client certificate and the token switches over end to end; without the CA the
//   agent's certificate fails verification, without a client certificate the agent refuses the
//   connection, and plain HTTP gets no answer.
#include <sys/stat.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "api/changing_calls.h"
#include "harness.h"
#include "test_files.h"
#include "platform/http_lib.h"
#include "platform/users.h"
#include "store/base64.h"
#include "support/test_certificates.h"

namespace pgpilot::testing {
namespace {

using std::chrono::seconds;

constexpr int kTtl = 4;


std::string FirstLine(const std::string& text) { return text.substr(0, text.find('\n')); }

int ApiPort(const MemberView& m) { return m.port + 100; }  // `up`: PostgreSQL P+i, API P+100+i

std::string HttpUrl(const MemberView& m) { return "http://127.0.0.1:" + std::to_string(ApiPort(m)); }
std::string HttpsUrl(const MemberView& m) { return "https://127.0.0.1:" + std::to_string(ApiPort(m)); }

struct Reply {
  bool answered = false;
  int status = 0;
  std::string www_authenticate;
  std::string body;
};

// One plain-HTTP request with an optional Authorization header and a JSON body.
Reply Send(int port, const std::string& method, const std::string& path, const std::string& authorization,
           const std::string& body = "") {
  httplib::Client client("127.0.0.1", port);
  client.set_connection_timeout(5, 0);
  client.set_read_timeout(10, 0);
  httplib::Request request;
  request.method = method;
  request.path = path;
  request.body = body;
  if (!body.empty()) request.set_header("Content-Type", "application/json");
  if (!authorization.empty()) request.set_header("Authorization", authorization);
  auto res = client.send(request);
  Reply out;
  if (!res) return out;
  out.answered = true;
  out.status = res->status;
  out.www_authenticate = res->get_header_value("WWW-Authenticate");
  out.body = res->body;
  return out;
}

// A replica of the converged cluster other than `except`.
std::optional<MemberView> AReplica(LocalClusterUnderTest& cluster, const std::string& except = "") {
  for (const MemberView& m : cluster.Members()) {
    if (m.role == "replica" && m.streaming && m.name != except) return m;
  }
  return std::nullopt;
}

TEST(ApiSecurity, ChangingCallsNeedTheTokenAndASwitchoverThroughTheApiHappens) {
  LocalClusterUnderTest cluster(3, kTtl);
  CommandResult up = cluster.Up();
  ASSERT_EQ(up.exit_code, 0) << up.output;
  ASSERT_TRUE(cluster.Converged(3)) << cluster.ListJson().dump(2);
  auto primary = cluster.Primary();
  ASSERT_TRUE(primary);

  // `up` generated the token: private, 32 characters, and every agent asks for it.
  const std::string token_file = cluster.dir() + "/secrets/api-token";
  struct stat st {};
  ASSERT_EQ(stat(token_file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  const std::string token = FirstLine(ReadWholeFile(token_file));
  ASSERT_EQ(token.size(), 32u);

  // The read-only routes stay open on every member.
  for (const MemberView& m : cluster.Members()) {
    for (const char* path : {"/status", "/cluster", "/metrics", "/health", "/liveness", "/readiness", "/primary",
                             "/replica"}) {
      Reply r = Send(ApiPort(m), "GET", path, "");
      ASSERT_TRUE(r.answered) << m.name << " " << path;
      EXPECT_TRUE(r.status == 200 || r.status == 503) << m.name << " " << path << ": " << r.status;
    }
  }

  // Every changing call without valid credentials is refused with a challenge, on every member.
  auto target = AReplica(cluster);
  ASSERT_TRUE(target);
  const std::vector<std::string> bad = {"", "Bearer wrong-token", "Bearer " + token.substr(0, 31),
                                        "Bearer " + token + "x", "Basic " + Base64Encode("postgres:" + token),
                                        token};
  for (const MemberView& m : cluster.Members()) {
    for (const ChangingCall& call : ChangingCalls()) {
      for (const std::string& authorization : bad) {
        std::string body = std::string(call.path) == "/config" ? R"({"pause": true})"
                                                                : R"({"to": ")" + target->name + "\"}";
        if (std::string(call.path) != "/config" && std::string(call.path) != "/switchover" &&
            std::string(call.path) != "/failover") {
          body = "";
        }
        Reply r = Send(ApiPort(m), call.method, call.path, authorization, body);
        ASSERT_TRUE(r.answered) << call.method << " " << call.path;
        EXPECT_EQ(r.status, 401) << m.name << " " << call.method << " " << call.path << " with '"
                                 << authorization.substr(0, 12) << "...': " << r.body;
        EXPECT_EQ(r.www_authenticate, "Bearer realm=\"pgpilot\"");
        EXPECT_EQ(r.body.find(token), std::string::npos);
      }
    }
  }
  // ... and nothing changed: no request, no pause, the same primary.
  Reply view = Send(ApiPort(*primary), "GET", "/cluster", "");
  nlohmann::json cluster_json = nlohmann::json::parse(view.body, nullptr, false);
  ASSERT_TRUE(cluster_json.is_object()) << view.body;
  EXPECT_FALSE(cluster_json.contains("switchover")) << view.body;
  EXPECT_FALSE(cluster_json.contains("requests")) << view.body;
  EXPECT_TRUE(!cluster_json.contains("config") || !cluster_json["config"].value("pause", false)) << view.body;
  EXPECT_EQ(cluster.Primary()->name, primary->name);

  // ctl over the API without credentials is refused too, and says where the token comes from.
  CommandResult anonymous = RunPgpilot({"ctl", "--api", HttpUrl(*primary), "pause"});
  EXPECT_EQ(anonymous.exit_code, 1) << anonymous.output;
  EXPECT_NE(anonymous.output.find("401"), std::string::npos) << anonymous.output;
  EXPECT_NE(anonymous.output.find("--api-token-file"), std::string::npos) << anonymous.output;

  // With the token (found through --dir), a switchover asked of a replica's agent really happens.
  auto via = AReplica(cluster, target->name);
  ASSERT_TRUE(via);
  CommandResult switchover =
      cluster.Ctl({"--api", HttpUrl(*via), "switchover", "--to", target->name, "--wait", "60"}, 90);
  ASSERT_EQ(switchover.exit_code, 0) << switchover.output;
  EXPECT_NE(switchover.output.find("switchover from " + primary->name + " to " + target->name + " requested"),
            std::string::npos)
      << switchover.output;
  EXPECT_NE(switchover.output.find(target->name + " is the primary"), std::string::npos) << switchover.output;
  ASSERT_TRUE(WaitUntil([&] { return cluster.Converged(3); }, seconds(60))) << cluster.ListJson().dump(2);
  EXPECT_EQ(cluster.Primary()->name, target->name);

  // A restart and a settings change go through the API too; ctl waits on the agent's view.
  CommandResult restart = cluster.Ctl({"--api", HttpUrl(*via), "restart", primary->name, "--wait", "60"}, 90);
  EXPECT_EQ(restart.exit_code, 0) << restart.output;
  EXPECT_NE(restart.output.find(primary->name + " restarted: runs as replica"), std::string::npos) << restart.output;
  CommandResult set = cluster.Ctl({"--api", HttpUrl(*via), "edit-config", "--set", "postgresql.parameters.work_mem=8MB"});
  EXPECT_EQ(set.exit_code, 0) << set.output;
  EXPECT_NE(cluster.Ctl({"show-config"}).output.find("postgresql.parameters.work_mem: 8MB"), std::string::npos)
      << "written to the store";

  // The token in a file given explicitly works the same (list reads the agent's view).
  CommandResult list = RunPgpilot({"ctl", "--api", HttpUrl(*via), "--api-token-file", token_file, "list"});
  EXPECT_EQ(list.exit_code, 0) << list.output;
  EXPECT_NE(list.output.find(target->name), std::string::npos) << list.output;

  // The agent that served the call logged it, and the refusals; no log holds the token.
  std::string served = cluster.ReadMemberFile(via->name, "agent.log");
  EXPECT_NE(served.find("API: POST /switchover from 127.0.0.1 (token): 202"), std::string::npos) << served;
  EXPECT_NE(served.find("API: refused POST /pause"), std::string::npos) << served;
  for (const MemberView& m : cluster.Members()) {
    for (const char* file : {"agent.log", "postgres.log", "agent.yaml"}) {
      EXPECT_EQ(cluster.ReadMemberFile(m.name, file).find(token), std::string::npos) << m.name << "/" << file;
    }
  }
  EXPECT_EQ(up.output.find(token), std::string::npos);
  EXPECT_EQ(switchover.output.find(token), std::string::npos);
}

TEST(ApiSecurity, HttpsWithClientCertificatesSwitchesOverEndToEndAndRefusesWhoCannotProveItself) {
  TempDir certs_dir("pgpilot-api-tls");
  auto certs = MakeTestCertificates(certs_dir.path(), Runner());
  ASSERT_TRUE(certs.ok()) << certs.error().ToString();
  // The agents run as postgres: their key must be theirs (0600); ctl, run by root here, keeps
  // the client key root's.
  auto postgres = LookupUser("postgres");
  ASSERT_TRUE(postgres.ok()) << postgres.error().ToString();
  ASSERT_TRUE(ChownTo(certs->server_key, *postgres).ok());

  LocalClusterUnderTest cluster(3, kTtl, "",
                                {"--api-cert-file", certs->server_cert, "--api-key-file", certs->server_key,
                                 "--api-ca-file", certs->ca, "--api-client-ca-file", certs->ca});
  CommandResult up = cluster.Up();
  ASSERT_EQ(up.exit_code, 0) << up.output;
  ASSERT_TRUE(cluster.Converged(3)) << cluster.ListJson().dump(2);
  auto primary = cluster.Primary();
  ASSERT_TRUE(primary);
  nlohmann::json list = cluster.ListJson();
  for (const auto& m : list["members"]) {
    EXPECT_EQ(m.value("api_url", "").rfind("https://", 0), 0u) << m.dump();
  }

  const std::string token_file = cluster.dir() + "/secrets/api-token";
  const std::string url = HttpsUrl(*primary);
  const std::vector<std::string> client = {"--api-cert-file", certs->client_cert, "--api-key-file", certs->client_key};
  auto ctl = [&](std::vector<std::string> options, std::vector<std::string> command) {
    std::vector<std::string> args = {"ctl", "--api"};
    args.insert(args.end(), options.begin(), options.end());
    args.insert(args.end(), command.begin(), command.end());
    return RunPgpilot(args, 90);
  };

  // Without the CA, the agent's certificate is not trusted: nothing is sent.
  CommandResult no_ca = ctl({url, "--api-token-file", token_file, client[0], client[1], client[2], client[3]}, {"pause"});
  EXPECT_NE(no_ca.exit_code, 0) << no_ca.output;
  EXPECT_NE(no_ca.output.find("not signed by a trusted CA"), std::string::npos) << no_ca.output;
  // Without a client certificate, the agent refuses the connection.
  // (exit status 1, not death by SIGPIPE: OpenSSL writes to the dropped connection.)
  CommandResult no_cert = ctl({url, "--api-token-file", token_file, "--api-ca-file", certs->ca}, {"pause"});
  EXPECT_EQ(no_cert.exit_code, 1) << no_cert.output;
  EXPECT_NE(no_cert.output.find("client certificate"), std::string::npos) << no_cert.output;
  // Plain HTTP to the HTTPS port gets no answer.
  CommandResult plain = ctl({"http://127.0.0.1:" + std::to_string(ApiPort(*primary)), "--api-token-file", token_file},
                            {"pause"});
  EXPECT_EQ(plain.exit_code, 1) << plain.output;
  // With the CA and a certificate but no token, the call itself is refused.
  CommandResult no_token = ctl({url, "--api-ca-file", certs->ca, client[0], client[1], client[2], client[3]}, {"pause"});
  EXPECT_EQ(no_token.exit_code, 1) << no_token.output;
  EXPECT_NE(no_token.output.find("401"), std::string::npos) << no_token.output;
  // None of them paused the cluster.
  CommandResult config = cluster.Ctl({"show-config"});
  EXPECT_EQ(config.output.find("pause: true"), std::string::npos) << config.output;

  // With all three: a switchover end to end.
  auto target = AReplica(cluster);
  ASSERT_TRUE(target);
  CommandResult switchover =
      ctl({url, "--api-token-file", token_file, "--api-ca-file", certs->ca, client[0], client[1], client[2], client[3]},
          {"switchover", "--to", target->name, "--wait", "60"});
  ASSERT_EQ(switchover.exit_code, 0) << switchover.output;
  EXPECT_NE(switchover.output.find(target->name + " is the primary"), std::string::npos) << switchover.output;
  ASSERT_TRUE(WaitUntil([&] { return cluster.Converged(3); }, seconds(60))) << cluster.ListJson().dump(2);
  EXPECT_EQ(cluster.Primary()->name, target->name);

  // `ctl --dir --api` takes the CA, the token and a client certificate (the agent's own, as the
  // agents present it to each other) from the agent config.
  CommandResult via_dir = cluster.Ctl({"--api", url, "list"});
  EXPECT_EQ(via_dir.exit_code, 0) << via_dir.output;
  EXPECT_NE(via_dir.output.find(target->name), std::string::npos) << via_dir.output;

  // The agents ask each other's positions over HTTPS with their own certificates: after a crash
  // of the primary, the winner's decision ranks the other survivor by its position (an agent it
  // could not ask would show as unreachable).
  auto takeover = cluster.KillAndAwaitTakeover(*cluster.Primary(), "SELECT 1");
  ASSERT_TRUE(takeover.new_primary) << takeover.failure;
  std::string survivor;
  for (const MemberView& m : cluster.Members()) {
    if (m.name != takeover.new_primary->name && m.name != target->name) survivor = m.name;
  }
  ASSERT_FALSE(survivor.empty());
  std::string log = cluster.ReadMemberFile(takeover.new_primary->name, "agent.log");
  size_t decision = log.rfind("we are the best candidate");
  ASSERT_NE(decision, std::string::npos) << log;
  std::string line = log.substr(decision, log.find('\n', decision) - decision);
  EXPECT_NE(line.find(survivor + "(tl "), std::string::npos) << line;
  EXPECT_EQ(line.find("unreachable"), std::string::npos) << line;
}

}  // namespace
}  // namespace pgpilot::testing
