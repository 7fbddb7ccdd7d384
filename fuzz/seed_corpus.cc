// Writes the seed corpora of the fuzz targets under DIR/<target>/ (`make fuzz-seeds` writes
// fuzz/corpus/): agent configs as `pgpilot up` renders them, store values from the project's own
// encoders, HTTP requests to every route of the API, and etcd and Kubernetes answers carrying
// those values as the servers send them.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "agent/config.h"
#include "api/health.h"
#include "platform/json_text.h"
#include "sample_cluster.h"
#include "store/base64.h"
#include "store/codec.h"
#include "store/k8s_names.h"
#include "store/keys.h"
#include "store_script.h"

namespace {

using namespace pgpilot;
using json = nlohmann::json;
namespace fs = std::filesystem;

fs::path g_root;
int g_written = 0;

void Write(const std::string& target, const std::string& name, const std::string& bytes) {
  fs::path dir = g_root / target;
  fs::create_directories(dir);
  std::ofstream(dir / name, std::ios::binary) << bytes;
  ++g_written;
}

// ---- agent_config

void AgentConfigs() {
  StoreConfig sqlite;
  sqlite.sqlite_path = "/tmp/pgpilot-demo/store.db";
  Write("agent_config", "up-sqlite.yaml", RenderAgentConfig(fuzz::SampleAgentConfig(0, sqlite)));

  StoreConfig etcd;
  etcd.etcd.endpoints = {"https://10.0.0.5:2379", "https://10.0.0.6:2379"};
  etcd.etcd.username = "pgpilot";
  etcd.etcd.password_file = "/etc/pgpilot/etcd-password";
  etcd.etcd.ca_file = "/etc/pgpilot/ca.pem";
  etcd.etcd.cert_file = "/etc/pgpilot/client.pem";
  etcd.etcd.key_file = "/etc/pgpilot/client-key.pem";
  AgentConfig with_etcd = fuzz::SampleAgentConfig(1, etcd);
  with_etcd.synchronous_mode = SyncMode::kStrict;
  with_etcd.synchronous_node_count = 2;
  with_etcd.commit_fence = true;
  with_etcd.tags.nofailover = true;
  with_etcd.parameters = {{"max_connections", "200"}, {"shared_buffers", "256MB"}};
  with_etcd.allowed_networks = {"10.0.0.0/8", "192.168.1.0/24"};
  with_etcd.log_format = LogFormat::kJson;
  with_etcd.log_level = LogLevel::kDebug;
  Write("agent_config", "etcd-tls-auth.yaml", RenderAgentConfig(with_etcd));

  StoreConfig k8s;
  k8s.kubernetes.enabled = true;
  k8s.kubernetes.namespace_name = "databases";
  k8s.kubernetes.token_file = "/var/run/secrets/kubernetes.io/serviceaccount/token";
  AgentConfig in_pod = fuzz::SampleAgentConfig(2, k8s);
  in_pod.pg_listen = "0.0.0.0";
  in_pod.pg_connect_host = "pg-2.pg.databases.svc";
  Write("agent_config", "kubernetes.yaml", RenderAgentConfig(in_pod));

  // As a person writes one: comments, flow and block styles, the environment, defaults left out.
  Write("agent_config", "handwritten.yaml",
        "# pgpilot agent, member ${HOSTNAME}\n"
        "cluster: main\n"
        "name: pg-a\n"
        "data_dir: /var/lib/postgresql/15/main/\n"
        "ttl: 10\n"
        "loop_wait: 1.5\n"
        "maximum_lag_on_failover: 16777216\n"
        "synchronous_mode: on\n"
        "tags: {nosync: yes, noloadbalance: off, clonefrom: true}\n"
        "store:\n"
        "  etcd:\n"
        "    endpoints: 10.0.0.5:2379,10.0.0.6:2379\n"
        "api:\n"
        "  listen: 0.0.0.0:8008\n"
        "  connect_address: 10.0.0.11:8008\n"
        "postgresql:\n"
        "  listen: '*'\n"
        "  connect_address: 10.0.0.11\n"
        "  port: 5433\n"
        "  socket_dir: /run/postgresql\n"
        "  allowed_networks:\n"
        "    - 10.0.0.0/24\n"
        "  superuser: {username: admin, password_file: /etc/pgpilot/superuser}\n"
        "  replication:\n"
        "    username: standby\n"
        "    password_file: /etc/pgpilot/replication\n"
        "  parameters:\n"
        "    work_mem: 16MB\n"
        "    log_min_duration_statement: 250\n"
        "log: {format: text, level: warn}\n");
}

// ---- store_codec: the selector byte of store_codec_fuzzer.cc, then the encoded value.

void StoreValues() {
  ClusterView v = fuzz::SampleView();
  auto write = [](int selector, const std::string& name, const std::string& text) {
    Write("store_codec", name, std::string(1, static_cast<char>(selector)) + text);
  };
  write(0, "initialize.json", EncodeInitialize(*v.initialize));
  write(0, "initialize-claim.json", EncodeInitialize(InitializeRecord{"pg-1", ""}));
  write(1, "leader.json", EncodeLeader(*v.leader));
  LeaderRecord released = *v.leader;
  released.released = true;
  write(1, "leader-released.json", EncodeLeader(released));
  for (const MemberStatus& m : v.members) write(2, "member-" + m.name + ".json", EncodeMember(m));
  write(3, "sync.json", EncodeSync(*v.sync));
  write(4, "config.json", EncodeConfig(*v.config));
  write(4, "config-pause.json", EncodeConfig(DynamicConfig{true}));
  write(5, "requests.json", EncodeRequests(*v.requests));
  write(6, "switchover.json", EncodeSwitchover(*v.switchover));
  write(6, "failover.json", EncodeSwitchover(SwitchoverRecord{"", "pg-2", {}, WallTime{1'764'000'000'000}, true}));
  std::vector<HistoryEntry> history = v.history;
  history.push_back(HistoryEntry{3, Lsn{0x5000060}, 2, "pg-0", "pg-1", 4, WallTime{1'764'000'900'000},
                                 "switchover to pg-1"});
  write(7, "history.json", EncodeHistory(history));
}

// ---- http_api: the selector byte of http_api_fuzzer.cc (the snapshot), then the request.

void HttpRequests() {
  auto write = [](int snapshot, const std::string& name, const std::string& request) {
    Write("http_api", name, std::string(1, static_cast<char>(snapshot)) + request);
  };
  auto get = [](const std::string& target) {
    return "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1:15532\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\n\r\n";
  };
  for (int snapshot = 0; snapshot < 4; ++snapshot) {
    for (const HealthRoute& route : HealthRoutes()) {
      std::string path = route.path;
      write(snapshot, "get" + std::string(path.substr(1)) + "-" + std::to_string(snapshot), get(path));
    }
  }
  write(1, "status", get("/status"));
  write(2, "cluster", get("/cluster"));
  write(1, "metrics", get("/metrics"));
  write(2, "replica-lag", get("/replica?lag=1048576"));
  write(2, "replica-lag-bad", get("/replica?lag=1MB"));
  write(2, "replica-lag-encoded", get("/rep%6cica?lag=%31%30&lag=2"));
  write(1, "options", "OPTIONS /primary HTTP/1.1\r\nHost: x\r\nOrigin: http://lb\r\n\r\n");
  write(1, "head", "HEAD /health HTTP/1.0\r\n\r\n");
  write(1, "keep-alive-pipelined",
        "GET /primary HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n"
        "GET /status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  auto with_body = [](const std::string& head, const std::string& body) {
    return head + "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  };
  write(1, "post-body", with_body("POST /status HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n",
                                  "{\"pause\":true}"));
  write(1, "post-chunked", "POST /cluster HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                           "5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nTrailer: x\r\n\r\n");
  write(1, "range", "GET /status HTTP/1.1\r\nHost: x\r\nRange: bytes=0-10,20-30,-5\r\n\r\n");
  write(1, "multipart",
        with_body("POST /primary HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=XyZ\r\n",
                  "--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nvalue\r\n--XyZ--\r\n"));
  write(3, "gzip", "GET /cluster HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip, deflate, br\r\n\r\n");
  write(0, "bad-request-line", "GET\r\n\r\n");
  // The changing calls, with the credentials http_api_fuzzer.cc configures, and without.
  const std::string bearer = "Authorization: Bearer fuzz-token-7rT9kQ2mX4\r\n";
  const std::string basic = "Authorization: Basic " + Base64Encode("operator:fuzz-password-Vb8n") + "\r\n";
  write(1, "switchover-token", with_body("POST /switchover HTTP/1.1\r\nHost: x\r\n" + bearer +
                                             "Content-Type: application/json\r\n",
                                         "{\"to\":\"pg-1\",\"at\":\"2026-12-02T10:00:00Z\"}"));
  write(1, "failover-basic", with_body("POST /failover HTTP/1.1\r\nHost: x\r\n" + basic, "{\"to\":\"pg-2\",\"force\":true}"));
  write(2, "config-token", with_body("PATCH /config HTTP/1.1\r\nHost: x\r\n" + bearer,
                                     "{\"postgresql.parameters.work_mem\":\"64MB\",\"ttl\":null}"));
  write(1, "pause-no-credentials", with_body("POST /pause HTTP/1.1\r\nHost: x\r\n", "{}"));
  write(1, "restart-wrong-token", with_body("POST /restart HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer nope\r\n",
                                            "{\"member\":\"pg-1\",\"pending\":true}"));
  write(3, "cancel-switchover-basic", "DELETE /switchover HTTP/1.1\r\nHost: x\r\n" + basic + "\r\n");
}

// ---- store_responses

std::string B64(const std::string& s) { return Base64Encode(s); }

json EtcdKv(const std::string& key, const std::string& value, int64_t create, int64_t mod, int64_t lease = 0) {
  json kv = {{"key", B64(key)}, {"value", B64(value)}, {"create_revision", std::to_string(create)},
             {"mod_revision", std::to_string(mod)}, {"version", "1"}};
  if (lease != 0) kv["lease"] = std::to_string(lease);
  return kv;
}

json EtcdHeader(int64_t revision) {
  return {{"cluster_id", "14841639068965178418"}, {"member_id", "10276657743932975437"},
          {"revision", std::to_string(revision)}, {"raft_term", "2"}};
}

std::string EtcdRange(const std::vector<json>& kvs) {
  json answer = {{"header", EtcdHeader(60)}};
  if (!kvs.empty()) {
    answer["kvs"] = kvs;
    answer["count"] = std::to_string(kvs.size());
  }
  return JsonText(answer);
}

void EtcdAnswers() {
  ClusterView v = fuzz::SampleView();
  const std::string c = "local";
  json leader = EtcdKv(keys::Key(c, keys::kLeader), EncodeLeader(*v.leader), 30, 41, 7587886526120310788);
  json term = EtcdKv(keys::Key(c, keys::kLeaderTerm), "3", 30, 40);
  std::vector<json> all = {
      EtcdKv(keys::Key(c, keys::kInitialize), EncodeInitialize(*v.initialize), 2, 5),
      leader,
      term,
      EtcdKv(keys::Key(c, keys::kHistory), EncodeHistory(v.history), 12, 12),
      EtcdKv(keys::Key(c, keys::kSync), EncodeSync(*v.sync), 13, 17),
      EtcdKv(keys::Key(c, keys::kConfig), EncodeConfig(*v.config), 14, 19),
      EtcdKv(keys::Key(c, keys::kRequests), EncodeRequests(*v.requests), 15, 20),
      EtcdKv(keys::Key(c, keys::kSwitchover), EncodeSwitchover(*v.switchover), 16, 16),
  };
  for (const MemberStatus& m : v.members) {
    all.push_back(EtcdKv(keys::MemberKey(c, m.name), EncodeMember(m), 3, 50, 7587886526120310790));
  }
  json prev = EtcdKv(keys::Key(c, keys::kLeader), EncodeLeader(LeaderRecord{"pg-1", 2, Duration(10000), Lsn{0x3000000}, 1, false, 0}), 20, 29);
  std::string watch =
      JsonText(json{{"result", {{"header", EtcdHeader(60)}, {"created", true}}}}) + "\n" +
      JsonText(json{{"result", {{"header", EtcdHeader(61)},
                                {"events", json::array({json{{"kv", leader}, {"prev_kv", prev}},
                                                        json{{"type", "DELETE"}, {"kv", term}}})}}}}) +
      "\n";
  std::string granted = JsonText(json{{"header", EtcdHeader(61)}, {"ID", "7587886526120310800"}, {"TTL", "10"}});
  std::string kept = JsonText(json{{"result", {{"header", EtcdHeader(61)}, {"ID", "7587886526120310788"}, {"TTL", "10"}}}});
  std::string txn_ok = JsonText(json{{"header", EtcdHeader(62)}, {"succeeded", true}, {"responses", json::array({json{{"response_put", {{"header", EtcdHeader(62)}}}}})}});
  std::string txn_lost = JsonText(json{{"header", EtcdHeader(62)}});
  std::string no_leader = "@503 " + JsonText(json{{"error", "etcdserver: no leader"}, {"code", 14}, {"message", "etcdserver: no leader"}});
  std::string denied = "@401 " + JsonText(json{{"error", "etcdserver: invalid auth token"}, {"code", 16}, {"message", "etcdserver: invalid auth token"}});

  using fuzz::StoreOperation;
  auto write = [](const std::string& name, StoreOperation op, const std::string& watch_answer,
                  const std::vector<std::string>& answers) {
    fuzz::StoreInput in;
    in.backend = fuzz::StoreBackend::kEtcd;
    in.operation = op;
    in.script.watch = fuzz::ParseAnswer(watch_answer);
    for (const std::string& a : answers) in.script.answers.push_back(fuzz::ParseAnswer(a));
    Write("store_responses", "etcd-" + name, RenderStoreInput(in));
  };
  write("load", StoreOperation::kLoad, watch, {EtcdRange(all)});
  write("load-empty", StoreOperation::kLoad, watch, {EtcdRange({})});
  write("load-no-leader", StoreOperation::kLoad, no_leader, {no_leader});
  write("load-denied", StoreOperation::kLoad, watch, {denied});
  write("claim", StoreOperation::kClaimInitialize, watch, {txn_ok});
  write("complete", StoreOperation::kCompleteInitialize, watch,
        {EtcdRange({EtcdKv(keys::Key(c, keys::kInitialize), EncodeInitialize({"pg-0", ""}), 2, 2)}), txn_ok});
  write("abandon", StoreOperation::kAbandonInitialize, watch,
        {EtcdRange({EtcdKv(keys::Key(c, keys::kInitialize), EncodeInitialize({"pg-0", ""}), 2, 2)}), txn_lost});
  write("acquire", StoreOperation::kAcquireLeader, watch, {EtcdRange({}), EtcdRange({term}), granted, txn_ok});
  write("take-over", StoreOperation::kTakeOverLeader, watch, {EtcdRange({leader}), EtcdRange({term}), granted, txn_lost, "{}", EtcdRange({leader})});
  write("renew", StoreOperation::kRenewLeader, watch, {EtcdRange({leader}), kept, txn_ok});
  write("release", StoreOperation::kReleaseLeader, watch, {EtcdRange({leader}), txn_ok, "{}"});
  write("put-member", StoreOperation::kPutMember, watch, {granted, txn_ok});
  write("delete-member", StoreOperation::kDeleteMember, watch, {JsonText(json{{"header", EtcdHeader(63)}, {"deleted", "1"}})});
  write("append-history", StoreOperation::kAppendHistory, watch, {EtcdRange({all[3]}), txn_ok});
  write("write-sync", StoreOperation::kWriteSync, watch, {txn_ok});
  write("write-config", StoreOperation::kWriteConfig, watch, {txn_lost});
  write("write-requests", StoreOperation::kWriteRequests, watch, {txn_ok});
  write("request-switchover", StoreOperation::kRequestSwitchover, watch, {txn_ok});
  write("clear-switchover", StoreOperation::kClearSwitchover, watch, {JsonText(json{{"header", EtcdHeader(63)}})});
}

json K8sMetadata(const std::string& name, const std::string& rv) {
  return {{"name", name}, {"namespace", "default"}, {"uid", "6f1c2a3e-0000-4000-8000-000000000001"},
          {"resourceVersion", rv}, {"creationTimestamp", "2026-11-23T15:04:05Z"},
          {"labels", {{std::string(k8s::kClusterLabel), "local"}}}};
}

void KubernetesAnswers() {
  ClusterView v = fuzz::SampleView();
  const std::string c = "local";
  json lease_meta = K8sMetadata(k8s::LeaseName(c), "4294967337");
  lease_meta["annotations"] = {{std::string(k8s::kLeaderAnnotation), EncodeLeader(*v.leader)}};
  json lease = {{"apiVersion", "coordination.k8s.io/v1"}, {"kind", "Lease"}, {"metadata", lease_meta},
                {"spec", {{"holderIdentity", "pg-0"}, {"leaseDurationSeconds", 10},
                          {"acquireTime", "2026-11-23T15:04:05.123456Z"}, {"renewTime", "2026-11-23T15:09:05.654321Z"},
                          {"leaseTransitions", 2}}}};
  json data = {{std::string(k8s::kInitializeKey), EncodeInitialize(*v.initialize)},
               {std::string(k8s::kHistoryKey), EncodeHistory(v.history)},
               {std::string(k8s::kSyncKey), EncodeSync(*v.sync)},
               {std::string(k8s::kSyncRevisionKey), "17"},
               {std::string(k8s::kConfigKey), EncodeConfig(*v.config)},
               {std::string(k8s::kConfigRevisionKey), "9"},
               {std::string(k8s::kRequestsKey), EncodeRequests(*v.requests)},
               {std::string(k8s::kRequestsRevisionKey), "5"},
               {std::string(k8s::kSwitchoverKey), EncodeSwitchover(*v.switchover)}};
  json cluster_cm = {{"apiVersion", "v1"}, {"kind", "ConfigMap"},
                     {"metadata", K8sMetadata(k8s::ClusterConfigMapName(c), "4294967340")}, {"data", data}};
  json members_data = json::object();
  for (const MemberStatus& m : v.members) {
    members_data[m.name] = JsonText(json{{"expires_ms", 4'102'444'800'000}, {"member", json::parse(EncodeMember(m))}});
  }
  json members_cm = {{"apiVersion", "v1"}, {"kind", "ConfigMap"},
                     {"metadata", K8sMetadata(k8s::MembersConfigMapName(c), "4294967350")}, {"data", members_data}};
  json status_404 = {{"kind", "Status"}, {"apiVersion", "v1"}, {"status", "Failure"}, {"reason", "NotFound"}, {"code", 404},
                     {"message", "leases.coordination.k8s.io \"local-leader\" not found"}};
  json status_409 = {{"kind", "Status"}, {"apiVersion", "v1"}, {"status", "Failure"}, {"reason", "Conflict"}, {"code", 409},
                     {"message", "Operation cannot be fulfilled on configmaps \"local-config\": the object has been modified"}};
  json pod = {{"apiVersion", "v1"}, {"kind", "Pod"}, {"metadata", K8sMetadata("pg-0", "4294967360")}};
  json pods = {{"apiVersion", "v1"}, {"kind", "PodList"}, {"metadata", {{"resourceVersion", "4294967361"}}},
               {"items", json::array({pod, json{{"metadata", K8sMetadata("pg-1", "4294967362")}}})}};
  std::string not_found = "@404 " + JsonText(status_404);
  std::string conflict = "@409 " + JsonText(status_409);

  using fuzz::StoreOperation;
  auto write = [](const std::string& name, StoreOperation op, const std::vector<std::string>& answers) {
    fuzz::StoreInput in;
    in.backend = fuzz::StoreBackend::kKubernetes;
    in.operation = op;
    for (const std::string& a : answers) in.script.answers.push_back(fuzz::ParseAnswer(a));
    Write("store_responses", "kubernetes-" + name, RenderStoreInput(in));
  };
  std::string L = JsonText(lease), C = JsonText(cluster_cm), M = JsonText(members_cm);
  write("load", StoreOperation::kLoad, {L, C, M});
  write("load-empty", StoreOperation::kLoad, {not_found, not_found, not_found});
  write("load-forbidden", StoreOperation::kLoad, {"@403 " + JsonText(json{{"kind", "Status"}, {"code", 403}, {"message", "forbidden"}})});
  write("claim", StoreOperation::kClaimInitialize, {not_found, "@201 " + C});
  write("complete", StoreOperation::kCompleteInitialize, {C, conflict, C, C});
  write("acquire", StoreOperation::kAcquireLeader, {not_found, "@201 " + L});
  write("take-over", StoreOperation::kTakeOverLeader, {L, conflict, L});
  write("renew", StoreOperation::kRenewLeader, {L, L});
  write("release", StoreOperation::kReleaseLeader, {L, L});
  write("put-member", StoreOperation::kPutMember, {M, JsonText(pod), JsonText(pods), JsonText(pod)});
  write("put-member-create", StoreOperation::kPutMember, {not_found, "@201 " + M, not_found});
  write("delete-member", StoreOperation::kDeleteMember, {M});
  write("append-history", StoreOperation::kAppendHistory, {C, C});
  write("write-sync", StoreOperation::kWriteSync, {C, C});
  write("write-config", StoreOperation::kWriteConfig, {C, conflict, C, C});
  write("write-requests", StoreOperation::kWriteRequests, {C, C});
  write("request-switchover", StoreOperation::kRequestSwitchover, {C});
  write("clear-switchover", StoreOperation::kClearSwitchover, {C, C});
  write("wait-for-change", StoreOperation::kWaitForChange, {L, C, M});
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s DIR   (writes DIR/<target>/<seed>)\n", argv[0]);
    return 2;
  }
  g_root = argv[1];
  AgentConfigs();
  StoreValues();
  HttpRequests();
  EtcdAnswers();
  KubernetesAnswers();
  std::printf("wrote %d seeds under %s\n", g_written, g_root.c_str());
  return 0;
}
