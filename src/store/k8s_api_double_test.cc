// The Kubernetes API double (tests/support/k8s_api_double.h) over real HTTP: that it answers as a
// real API server would, so that tests of the Kubernetes store against it mean something.
#include "support/k8s_api_double.h"

#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include "platform/http_lib.h"
#include <nlohmann/json.hpp>

#include "core/types.h"

namespace pgpilot {
namespace {

using json = nlohmann::json;
using testing::KubernetesApiDouble;
using Clock = std::chrono::steady_clock;

const std::string kLeases = "/apis/coordination.k8s.io/v1/namespaces/ns1/leases";
const std::string kConfigMaps = "/api/v1/namespaces/ns1/configmaps";
const std::string kPods = "/api/v1/namespaces/ns1/pods";
const std::string kMergePatch = "application/merge-patch+json";

struct HttpReply {
  int status = 0;  // 0: no answer, see `error`
  httplib::Error error = httplib::Error::Success;
  std::string text;
  json body;  // discarded when `text` is not JSON
  httplib::Headers headers;

  std::string reason() const { return body.is_object() ? body.value("reason", "") : ""; }
  std::string resource_version() const {
    return body.at("metadata").at("resourceVersion").get<std::string>();
  }
  std::string Describe() const {
    return "HTTP " + std::to_string(status) + " (" + httplib::to_string(error) + "): " + text;
  }
};

struct Call {
  std::string method = "GET";
  std::string path;
  std::string body;
  std::string content_type = "application/json";
  std::string token;
  Duration timeout{3000};
};

HttpReply Send(const std::string& url, const Call& call) {
  httplib::Client client(url);
  const auto seconds = call.timeout.count() / 1000;
  const auto micros = (call.timeout.count() % 1000) * 1000;
  client.set_connection_timeout(seconds, micros);
  client.set_read_timeout(seconds, micros);
  client.set_write_timeout(seconds, micros);
  httplib::Headers headers;
  if (!call.token.empty()) headers.emplace("Authorization", "Bearer " + call.token);
  httplib::Result result = [&] {
    if (call.method == "POST") return client.Post(call.path, headers, call.body, call.content_type);
    if (call.method == "PUT") return client.Put(call.path, headers, call.body, call.content_type);
    if (call.method == "PATCH") {
      return client.Patch(call.path, headers, call.body, call.content_type);
    }
    if (call.method == "DELETE") {
      return call.body.empty() ? client.Delete(call.path, headers)
                               : client.Delete(call.path, headers, call.body, call.content_type);
    }
    return client.Get(call.path, headers);
  }();
  HttpReply reply;
  if (!result) {
    reply.error = result.error();
    return reply;
  }
  reply.status = result->status;
  reply.text = result->body;
  reply.headers = result->headers;
  reply.body = json::parse(reply.text, nullptr, /*allow_exceptions=*/false);
  return reply;
}

// Percent-encodes a query parameter value.
std::string QueryValue(const std::string& text) {
  std::string encoded;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      encoded += static_cast<char>(c);
    } else {
      char escape[4];
      std::snprintf(escape, sizeof escape, "%%%02X", c);
      encoded += escape;
    }
  }
  return encoded;
}

std::vector<std::string> ItemNames(const json& list) {
  std::vector<std::string> names;
  for (const json& item : list.at("items")) names.push_back(item["metadata"]["name"]);
  return names;
}

json Lease(const std::string& name, const std::string& holder) {
  return {{"apiVersion", "coordination.k8s.io/v1"},
          {"kind", "Lease"},
          {"metadata", {{"name", name}, {"labels", {{"app", "pgpilot"}}}}},
          {"spec",
           {{"holderIdentity", holder},
            {"leaseDurationSeconds", 15},
            {"renewTime", "2026-11-23T15:04:05.123456Z"}}}};
}

json ConfigMap(const std::string& name, json data = json::object()) {
  return {{"apiVersion", "v1"},
          {"kind", "ConfigMap"},
          {"metadata", {{"name", name}}},
          {"data", std::move(data)}};
}

json Pod(const std::string& name, json labels) {
  json metadata = {{"name", name}};
  if (!labels.empty()) metadata["labels"] = std::move(labels);
  return {{"apiVersion", "v1"},
          {"kind", "Pod"},
          {"metadata", std::move(metadata)},
          {"spec", {{"containers", {{{"name", "postgres"}, {"image", "postgres:17"}}}}}}};
}

void ExpectStatus(const HttpReply& reply, int code, const std::string& reason) {
  EXPECT_EQ(reply.status, code) << reply.Describe();
  ASSERT_TRUE(reply.body.is_object()) << reply.Describe();
  EXPECT_EQ(reply.body.value("kind", ""), "Status") << reply.text;
  EXPECT_EQ(reply.body.value("apiVersion", ""), "v1") << reply.text;
  EXPECT_EQ(reply.body.value("status", ""), "Failure") << reply.text;
  EXPECT_EQ(reply.body.value("reason", ""), reason) << reply.text;
  EXPECT_EQ(reply.body.value("code", 0), code) << reply.text;
  EXPECT_FALSE(reply.body.value("message", "").empty()) << reply.text;
}

class KubernetesApiDoubleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto started = KubernetesApiDouble::Start();
    ASSERT_TRUE(started.ok()) << started.error().ToString();
    api_ = std::move(*started);
  }

  HttpReply Do(Call call) { return Send(api_->url(), call); }
  HttpReply Get(const std::string& path) { return Do({.path = path}); }
  HttpReply Post(const std::string& path, const json& body) {
    return Do({.method = "POST", .path = path, .body = body.dump()});
  }
  HttpReply Put(const std::string& path, const json& body) {
    return Do({.method = "PUT", .path = path, .body = body.dump()});
  }
  HttpReply Patch(const std::string& path, const json& patch) {
    return Do({.method = "PATCH", .path = path, .body = patch.dump(), .content_type = kMergePatch});
  }
  HttpReply Delete(const std::string& path, const json& options = nullptr) {
    return Do({.method = "DELETE", .path = path, .body = options.is_null() ? "" : options.dump()});
  }
  // Creates through HTTP; fails the test unless 201.
  json MustCreate(const std::string& path, const json& body) {
    HttpReply reply = Post(path, body);
    EXPECT_EQ(reply.status, 201) << reply.Describe();
    return reply.body;
  }

  std::unique_ptr<KubernetesApiDouble> api_;
};

TEST_F(KubernetesApiDoubleTest, CreateGetListRoundTripWithGeneratedMetadata) {
  HttpReply created = Post(kLeases, Lease("pg-leader", "node-1"));
  ASSERT_EQ(created.status, 201) << created.Describe();
  EXPECT_EQ(created.body["kind"], "Lease");
  EXPECT_EQ(created.body["apiVersion"], "coordination.k8s.io/v1");
  const json& metadata = created.body["metadata"];
  EXPECT_EQ(metadata["name"], "pg-leader");
  EXPECT_EQ(metadata["namespace"], "ns1");
  EXPECT_TRUE(std::regex_match(metadata.value("uid", ""),
                               std::regex("[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-"
                                          "[0-9a-f]{12}")))
      << metadata;
  EXPECT_TRUE(std::regex_match(metadata.value("creationTimestamp", ""),
                               std::regex("\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}Z")))
      << metadata;
  EXPECT_TRUE(std::regex_match(metadata.value("resourceVersion", ""), std::regex("[1-9]\\d*")))
      << metadata;
  EXPECT_EQ(created.body["spec"]["holderIdentity"], "node-1");
  EXPECT_EQ(created.body["spec"]["leaseDurationSeconds"], 15);
  EXPECT_EQ(created.body["spec"]["renewTime"], "2026-11-23T15:04:05.123456Z");

  HttpReply got = Get(kLeases + "/pg-leader");
  ASSERT_EQ(got.status, 200) << got.Describe();
  EXPECT_EQ(got.body, created.body);

  ASSERT_EQ(Post(kLeases, Lease("a-first", "node-2")).status, 201);
  HttpReply list = Get(kLeases);
  ASSERT_EQ(list.status, 200) << list.Describe();
  EXPECT_EQ(list.body["kind"], "LeaseList");
  EXPECT_EQ(list.body["apiVersion"], "coordination.k8s.io/v1");
  EXPECT_EQ(ItemNames(list.body), (std::vector<std::string>{"a-first", "pg-leader"}));
  const json& item = list.body["items"][1];
  EXPECT_FALSE(item.contains("kind")) << "items of a typed list carry no kind";
  EXPECT_EQ(item["metadata"]["uid"], metadata["uid"]);
  EXPECT_EQ(item["spec"], created.body["spec"]);
  EXPECT_GE(std::stoull(list.resource_version()),
            std::stoull(metadata["resourceVersion"].get<std::string>()));

  // Other namespaces and kinds do not see it; the direct accessors do.
  EXPECT_TRUE(Get("/apis/coordination.k8s.io/v1/namespaces/ns2/leases").body["items"].empty());
  EXPECT_TRUE(Get(kConfigMaps).body["items"].empty());
  auto direct = api_->Get("leases", "ns1", "pg-leader");
  ASSERT_TRUE(direct.ok()) << direct.error().ToString();
  EXPECT_EQ(json::parse(*direct), created.body);
}

TEST_F(KubernetesApiDoubleTest, CreatingAnExistingNameIsAlreadyExists) {
  json first = MustCreate(kLeases, Lease("pg-leader", "node-1"));
  HttpReply second = Post(kLeases, Lease("pg-leader", "node-2"));
  ExpectStatus(second, 409, "AlreadyExists");
  EXPECT_EQ(second.body["message"], "leases.coordination.k8s.io \"pg-leader\" already exists");
  EXPECT_EQ(second.body["details"]["name"], "pg-leader");
  EXPECT_EQ(Get(kLeases + "/pg-leader").body, first);
}

TEST_F(KubernetesApiDoubleTest, CreateChecksNameNamespaceKindAndBody) {
  json unnamed = ConfigMap("x");
  unnamed["metadata"].erase("name");
  HttpReply missing_name = Post(kConfigMaps, unnamed);
  ExpectStatus(missing_name, 422, "Invalid");
  EXPECT_EQ(missing_name.body["details"]["causes"][0]["field"], "metadata.name");

  json elsewhere = ConfigMap("x");
  elsewhere["metadata"]["namespace"] = "ns2";
  ExpectStatus(Post(kConfigMaps, elsewhere), 400, "BadRequest");
  ExpectStatus(Post(kConfigMaps, ConfigMap("Not_A_DNS_Name")), 422, "Invalid");
  ExpectStatus(Post(kLeases, ConfigMap("x")), 400, "BadRequest");  // a ConfigMap is no Lease
  ExpectStatus(Do({.method = "POST", .path = kConfigMaps, .body = "{not json"}), 400,
               "BadRequest");
  ExpectStatus(Do({.method = "POST", .path = kConfigMaps, .body = ConfigMap("x").dump(),
                   .content_type = "application/yaml"}),
               415, "UnsupportedMediaType");
  EXPECT_TRUE(Get(kConfigMaps).body["items"].empty()) << "nothing was stored";

  json generated = ConfigMap("x");
  generated["metadata"].erase("name");
  generated["metadata"]["generateName"] = "pgpilot-";
  HttpReply created = Post(kConfigMaps, generated);
  ASSERT_EQ(created.status, 201) << created.Describe();
  EXPECT_TRUE(std::regex_match(created.body["metadata"].value("name", ""),
                               std::regex("pgpilot-[a-z0-9]{5}")))
      << created.text;
}

TEST_F(KubernetesApiDoubleTest, PutWithStaleResourceVersionConflictsAndChangesNothing) {
  json created = MustCreate(kLeases, Lease("pg-leader", "node-1"));
  json renewed = created;
  renewed["spec"]["renewTime"] = "2026-11-23T15:04:07.000000Z";
  HttpReply first = Put(kLeases + "/pg-leader", renewed);
  ASSERT_EQ(first.status, 200) << first.Describe();
  EXPECT_NE(first.resource_version(), created["metadata"]["resourceVersion"]);

  json stale = created;  // still carries the first resourceVersion
  stale["spec"]["holderIdentity"] = "node-2";
  HttpReply conflict = Put(kLeases + "/pg-leader", stale);
  ExpectStatus(conflict, 409, "Conflict");
  EXPECT_EQ(conflict.body["message"],
            "Operation cannot be fulfilled on leases.coordination.k8s.io \"pg-leader\": the "
            "object has been modified; please apply your changes to the latest version and try "
            "again");
  EXPECT_EQ(Get(kLeases + "/pg-leader").body, first.body);
}

TEST_F(KubernetesApiDoubleTest, PutWithoutResourceVersionIsUnconditional) {
  json created = MustCreate(kLeases, Lease("pg-leader", "node-1"));
  ASSERT_EQ(Patch(kLeases + "/pg-leader", {{"spec", {{"leaseTransitions", 1}}}}).status, 200);
  json blind = Lease("pg-leader", "node-2");  // no resourceVersion, no uid
  HttpReply replaced = Put(kLeases + "/pg-leader", blind);
  ASSERT_EQ(replaced.status, 200) << replaced.Describe();
  EXPECT_EQ(replaced.body["spec"]["holderIdentity"], "node-2");
  EXPECT_FALSE(replaced.body["spec"].contains("leaseTransitions")) << "PUT replaces the object";
  EXPECT_EQ(replaced.body["metadata"]["uid"], created["metadata"]["uid"]);
  EXPECT_EQ(replaced.body["metadata"]["creationTimestamp"],
            created["metadata"]["creationTimestamp"]);
  EXPECT_EQ(Get(kLeases + "/pg-leader").body, replaced.body);
}

TEST_F(KubernetesApiDoubleTest, PutChecksNameExistenceUidAndMethod) {
  json created = MustCreate(kLeases, Lease("pg-leader", "node-1"));
  ExpectStatus(Put(kLeases + "/other-name", created), 400, "BadRequest");
  ExpectStatus(Put(kLeases + "/absent", Lease("absent", "node-1")), 404, "NotFound");
  json recreated = created;
  recreated["metadata"].erase("resourceVersion");
  recreated["metadata"]["uid"] = "00000000-0000-4000-8000-000000000000";
  ExpectStatus(Put(kLeases + "/pg-leader", recreated), 409, "Conflict");
  json pod = MustCreate(kPods, Pod("pg-0", json::object()));
  ExpectStatus(Put(kPods + "/pg-0", pod), 405, "MethodNotAllowed");
  EXPECT_EQ(Get(kLeases + "/pg-leader").body, created);
}

TEST_F(KubernetesApiDoubleTest, MergePatchAddsReplacesAndDeletesKeys) {
  json configmap = ConfigMap("pg-state", {{"keep", "1"}, {"replace", "old"}, {"drop", "x"}});
  configmap["metadata"]["labels"] = {{"app", "pgpilot"}, {"role", "replica"}, {"gone", "yes"}};
  configmap["metadata"]["annotations"] = {{"pgpilot/history", "[]"}, {"pgpilot/old", "x"}};
  json created = MustCreate(kConfigMaps, configmap);

  json patch = {
      {"metadata",
       {{"labels", {{"role", "primary"}, {"gone", nullptr}, {"added", "yes"}}},
        {"annotations", {{"pgpilot/old", nullptr}, {"pgpilot/new", "{\"a\":1}"}}}}},
      {"data", {{"replace", "new"}, {"drop", nullptr}, {"add", "2"}}}};
  HttpReply patched = Patch(kConfigMaps + "/pg-state", patch);
  ASSERT_EQ(patched.status, 200) << patched.Describe();
  EXPECT_EQ(patched.body["metadata"]["labels"],
            (json{{"app", "pgpilot"}, {"role", "primary"}, {"added", "yes"}}));
  EXPECT_EQ(patched.body["metadata"]["annotations"],
            (json{{"pgpilot/history", "[]"}, {"pgpilot/new", "{\"a\":1}"}}));
  EXPECT_EQ(patched.body["data"], (json{{"keep", "1"}, {"replace", "new"}, {"add", "2"}}));
  EXPECT_NE(patched.resource_version(), created["metadata"]["resourceVersion"]);
  EXPECT_EQ(Get(kConfigMaps + "/pg-state").body, patched.body);

  // Removing the last label removes the map, as Go's omitempty does.
  json no_labels = {{"app", nullptr}, {"role", nullptr}, {"added", nullptr}};
  HttpReply unlabelled = Patch(kConfigMaps + "/pg-state", {{"metadata", {{"labels", no_labels}}}});
  ASSERT_EQ(unlabelled.status, 200) << unlabelled.Describe();
  EXPECT_FALSE(unlabelled.body["metadata"].contains("labels")) << unlabelled.text;
}

TEST_F(KubernetesApiDoubleTest, MergePatchResourceVersionIsAPrecondition) {
  json created = MustCreate(kLeases, Lease("pg-leader", "node-1"));
  const std::string first_version = created["metadata"]["resourceVersion"];
  HttpReply renewed = Patch(kLeases + "/pg-leader",
                            {{"metadata", {{"resourceVersion", first_version}}},
                             {"spec", {{"renewTime", "2026-11-23T15:04:09.000000Z"}}}});
  ASSERT_EQ(renewed.status, 200) << renewed.Describe();

  HttpReply stale = Patch(kLeases + "/pg-leader",
                          {{"metadata", {{"resourceVersion", first_version}}},
                           {"spec", {{"holderIdentity", "node-2"}}}});
  ExpectStatus(stale, 409, "Conflict");
  EXPECT_NE(stale.body.value("message", "").find("the object has been modified"),
            std::string::npos);
  EXPECT_EQ(Get(kLeases + "/pg-leader").body, renewed.body);

  ExpectStatus(Patch(kLeases + "/absent", {{"spec", {{"holderIdentity", "x"}}}}), 404,
               "NotFound");
  ExpectStatus(Patch(kLeases + "/pg-leader", {{"metadata", {{"name", "renamed"}}}}), 400,
               "BadRequest");
}

TEST_F(KubernetesApiDoubleTest, PatchTypesOtherThanMergePatchAreUnsupported) {
  json created = MustCreate(kLeases, Lease("pg-leader", "node-1"));
  for (const std::string type : {"application/json-patch+json",
                                 "application/strategic-merge-patch+json",
                                 "application/apply-patch+yaml", "application/json", ""}) {
    std::string body = type == "application/json-patch+json"
                           ? R"([{"op":"replace","path":"/spec/holderIdentity","value":"x"}])"
                           : R"({"spec":{"holderIdentity":"x"}})";
    HttpReply reply = Do({.method = "PATCH", .path = kLeases + "/pg-leader", .body = body,
                          .content_type = type});
    ExpectStatus(reply, 415, "UnsupportedMediaType");
  }
  EXPECT_EQ(Get(kLeases + "/pg-leader").body, created);
}

TEST_F(KubernetesApiDoubleTest, LabelSelectorsSelectAsTheApiServerDoes) {
  MustCreate(kPods, Pod("p1", {{"app", "db"}, {"role", "primary"}, {"tier", "1"}}));
  MustCreate(kPods, Pod("p2", {{"app", "db"}, {"role", "replica"}, {"tier", "5"}}));
  MustCreate(kPods, Pod("p3", {{"app", "web"}, {"example.com/zone", "a"}}));
  MustCreate(kPods, Pod("p4", json::object()));
  using Names = std::vector<std::string>;
  const std::vector<std::pair<std::string, Names>> cases = {
      {"", {"p1", "p2", "p3", "p4"}},
      {"app=db", {"p1", "p2"}},
      {"app==db", {"p1", "p2"}},
      {"app!=db", {"p3", "p4"}},
      {"role", {"p1", "p2"}},
      {"!role", {"p3", "p4"}},
      {"role in (primary,standby)", {"p1"}},
      {"role notin (primary)", {"p2", "p3", "p4"}},
      {"app=db,role=replica", {"p2"}},
      {" app = db , role in ( primary ) ", {"p1"}},
      {"tier>3", {"p2"}},
      {"tier<3", {"p1"}},
      {"example.com/zone=a", {"p3"}},
      {"app=nothing", {}},
  };
  for (const auto& [selector, expected] : cases) {
    HttpReply list = Get(kPods + "?labelSelector=" + QueryValue(selector));
    ASSERT_EQ(list.status, 200) << selector << ": " << list.Describe();
    EXPECT_EQ(ItemNames(list.body), expected) << "labelSelector " << selector;
    auto direct = api_->List("pods", "ns1", selector);
    ASSERT_TRUE(direct.ok()) << selector << ": " << direct.error().ToString();
    EXPECT_EQ(*direct, expected) << "List(" << selector << ")";
  }
  for (const std::string malformed :
       {"app in db", "=db", "app=db,", "role in (primary", "!", "app=a b", "tier>x",
        "app=-bad-", "a/b/c=1", "app notin ()x", "app=(x)"}) {
    HttpReply list = Get(kPods + "?labelSelector=" + QueryValue(malformed));
    ExpectStatus(list, 400, "BadRequest");
    EXPECT_FALSE(api_->List("pods", "ns1", malformed).ok()) << malformed;
  }
}

TEST_F(KubernetesApiDoubleTest, InvalidLabelsAndAnnotationsAreInvalid) {
  const std::string long_value(64, 'a');
  for (const json& labels :
       {json{{"role", "not valid"}}, json{{"role", "-primary"}}, json{{"role", long_value}},
        json{{"bad key", "x"}}, json{{"Bad.Prefix/role", "x"}}, json{{"/role", "x"}}}) {
    json lease = Lease("pg-leader", "node-1");
    lease["metadata"]["labels"] = labels;
    HttpReply reply = Post(kLeases, lease);
    ExpectStatus(reply, 422, "Invalid");
    EXPECT_EQ(reply.body["details"]["causes"][0]["field"], "metadata.labels") << reply.text;
    EXPECT_EQ(reply.body["details"]["kind"], "Lease") << reply.text;
  }
  json bad_annotation = ConfigMap("x");
  bad_annotation["metadata"]["annotations"] = {{"not a key", "x"}};
  ExpectStatus(Post(kConfigMaps, bad_annotation), 422, "Invalid");
  EXPECT_TRUE(Get(kLeases).body["items"].empty());

  // The limits themselves are fine.
  json lease = Lease("pg-leader", "node-1");
  lease["metadata"]["labels"] = {{"example.com/role", std::string(63, 'a')}, {"empty", ""}};
  EXPECT_EQ(Post(kLeases, lease).status, 201);
  HttpReply patched = Patch(kLeases + "/pg-leader", {{"metadata", {{"labels", {{"x", "a b"}}}}}});
  ExpectStatus(patched, 422, "Invalid");
}

TEST_F(KubernetesApiDoubleTest, MicroTimeMustHaveSixFractionalDigits) {
  for (const std::string bad :
       {"2026-11-23T15:04:05Z", "2026-11-23T15:04:05.123Z", "2026-11-23T15:04:05.1234567Z",
        "2026-11-23 15:04:05.123456Z", "2026-11-23T15:04:05.123456", "2026-13-23T15:04:05.123456Z",
        "2026-02-30T15:04:05.123456Z", "yesterday"}) {
    json lease = Lease("pg-leader", "node-1");
    lease["spec"]["acquireTime"] = bad;
    HttpReply reply = Post(kLeases, lease);
    ExpectStatus(reply, 400, "BadRequest");
    EXPECT_NE(reply.body.value("message", "").find(bad), std::string::npos) << reply.text;
  }
  json lease = Lease("pg-leader", "node-1");
  lease["spec"]["acquireTime"] = "2026-11-23T16:04:05.000001+01:00";
  HttpReply created = Post(kLeases, lease);
  ASSERT_EQ(created.status, 201) << created.Describe();
  EXPECT_EQ(created.body["spec"]["acquireTime"], "2026-11-23T15:04:05.000001Z");
  ExpectStatus(Patch(kLeases + "/pg-leader", {{"spec", {{"renewTime", "2026-11-23T15:04:05Z"}}}}),
               400, "BadRequest");
}

TEST_F(KubernetesApiDoubleTest, FieldsOfTheWrongTypeAreBadRequests) {
  const std::vector<json> bad_specs = {
      {{"leaseDurationSeconds", "15"}}, {{"leaseDurationSeconds", 15.5}},
      {{"leaseTransitions", 3000000000LL}}, {{"holderIdentity", 5}},
      {{"renewTime", 1700000000}}};
  for (const json& spec : bad_specs) {
    json lease = Lease("pg-leader", "node-1");
    lease["spec"].update(spec);
    ExpectStatus(Post(kLeases, lease), 400, "BadRequest");
  }
  json zero_duration = Lease("pg-leader", "node-1");
  zero_duration["spec"]["leaseDurationSeconds"] = 0;
  ExpectStatus(Post(kLeases, zero_duration), 422, "Invalid");

  ExpectStatus(Post(kConfigMaps, ConfigMap("x", {{"count", 1}})), 400, "BadRequest");
  json annotated = ConfigMap("x");
  annotated["metadata"]["annotations"] = {{"pgpilot/term", 3}};
  ExpectStatus(Post(kConfigMaps, annotated), 400, "BadRequest");
  json numeric_version = ConfigMap("x");
  numeric_version["metadata"]["resourceVersion"] = 5;
  ExpectStatus(Post(kConfigMaps, numeric_version), 400, "BadRequest");
  ExpectStatus(Post(kConfigMaps, ConfigMap("x", {{"bad key!", "v"}})), 422, "Invalid");
  EXPECT_TRUE(Get(kConfigMaps).body["items"].empty());
  EXPECT_TRUE(Get(kLeases).body["items"].empty());
}

TEST_F(KubernetesApiDoubleTest, UnknownFieldsAreDroppedWithAWarning) {
  json lease = Lease("pg-leader", "node-1");
  lease["spec"]["holder"] = "typo";
  HttpReply created = Post(kLeases, lease);
  ASSERT_EQ(created.status, 201) << created.Describe();
  EXPECT_FALSE(created.body["spec"].contains("holder"));
  auto warning = created.headers.find("Warning");
  ASSERT_NE(warning, created.headers.end());
  EXPECT_NE(warning->second.find("unknown field \\\"spec.holder\\\""), std::string::npos)
      << warning->second;
}

TEST_F(KubernetesApiDoubleTest, GetOfAMissingObjectIsNotFoundStatus) {
  HttpReply reply = Get(kLeases + "/nope");
  ExpectStatus(reply, 404, "NotFound");
  EXPECT_EQ(reply.body["message"], "leases.coordination.k8s.io \"nope\" not found");
  EXPECT_EQ(reply.body["details"]["name"], "nope");
  EXPECT_EQ(reply.body["details"]["kind"], "leases");
  ExpectStatus(Get(kConfigMaps + "/nope"), 404, "NotFound");
  EXPECT_EQ(Get(kConfigMaps + "/nope").body["message"], "configmaps \"nope\" not found");
}

TEST_F(KubernetesApiDoubleTest, UnknownPathsAndWrongMethods) {
  ExpectStatus(Get("/api/v1/namespaces/ns1/secrets"), 404, "NotFound");
  ExpectStatus(Get("/api/v1/namespaces/ns1/leases"), 404, "NotFound");  // wrong group
  ExpectStatus(Get("/apis/coordination.k8s.io/v1/leases"), 404, "NotFound");  // not namespaced
  ExpectStatus(Get(kPods + "/p1/status"), 404, "NotFound");
  ExpectStatus(Get("/nothing"), 404, "NotFound");
  ExpectStatus(Put(kConfigMaps, ConfigMap("x")), 405, "MethodNotAllowed");
  ExpectStatus(Delete(kConfigMaps), 405, "MethodNotAllowed");
  ExpectStatus(Post(kConfigMaps + "/x", ConfigMap("x")), 405, "MethodNotAllowed");
  EXPECT_EQ(Get("/version").status, 200);
}

TEST_F(KubernetesApiDoubleTest, WatchIsAnsweredAsNotImplemented) {
  for (const std::string value : {"1", "true"}) {
    HttpReply reply = Get(kLeases + "?watch=" + value);
    ExpectStatus(reply, 400, "BadRequest");
    EXPECT_EQ(reply.body["message"], "watch is not implemented by this test double");
  }
  EXPECT_EQ(Get(kLeases + "?watch=false").status, 200);
  ExpectStatus(Get(kPods + "?fieldSelector=" + QueryValue("metadata.name=x")), 400, "BadRequest");
}

TEST_F(KubernetesApiDoubleTest, DeleteAnswersAndHonoursPreconditions) {
  json lease = MustCreate(kLeases, Lease("pg-leader", "node-1"));
  json stale = {{"kind", "DeleteOptions"},
                {"apiVersion", "v1"},
                {"preconditions", {{"resourceVersion", "1"}}}};
  ExpectStatus(Delete(kLeases + "/pg-leader", stale), 409, "Conflict");
  ASSERT_EQ(Get(kLeases + "/pg-leader").status, 200);

  json current = {{"preconditions",
                   {{"uid", lease["metadata"]["uid"]},
                    {"resourceVersion", lease["metadata"]["resourceVersion"]}}}};
  HttpReply deleted = Delete(kLeases + "/pg-leader", current);
  ASSERT_EQ(deleted.status, 200) << deleted.Describe();
  EXPECT_EQ(deleted.body["kind"], "Status");
  EXPECT_EQ(deleted.body["status"], "Success");
  EXPECT_EQ(deleted.body["details"]["name"], "pg-leader");
  ExpectStatus(Get(kLeases + "/pg-leader"), 404, "NotFound");
  ExpectStatus(Delete(kLeases + "/pg-leader"), 404, "NotFound");

  MustCreate(kPods, Pod("pg-0", {{"app", "db"}}));
  HttpReply pod = Delete(kPods + "/pg-0");
  ASSERT_EQ(pod.status, 200) << pod.Describe();
  EXPECT_EQ(pod.body["kind"], "Pod");
  EXPECT_TRUE(Get(kPods).body["items"].empty());
}

TEST_F(KubernetesApiDoubleTest, ResourceVersionIncreasesAcrossObjectsAndOnlyOnChange) {
  std::vector<std::string> versions;
  versions.push_back(MustCreate(kLeases, Lease("a", "node-1"))["metadata"]["resourceVersion"]);
  versions.push_back(MustCreate(kConfigMaps, ConfigMap("b"))["metadata"]["resourceVersion"]);
  versions.push_back(MustCreate(kPods, Pod("c", {{"app", "db"}}))["metadata"]["resourceVersion"]);
  versions.push_back(Patch(kLeases + "/a", {{"spec", {{"holderIdentity", "node-2"}}}})
                         .resource_version());
  versions.push_back(Put(kConfigMaps + "/b", ConfigMap("b", {{"k", "v"}})).resource_version());
  versions.push_back(Patch(kPods + "/c", {{"metadata", {{"labels", {{"role", "primary"}}}}}})
                         .resource_version());
  ASSERT_EQ(Delete(kConfigMaps + "/b").status, 200);
  const std::string list_version = Get(kLeases).resource_version();
  versions.push_back(list_version);
  for (size_t i = 1; i < versions.size(); ++i) {
    EXPECT_GT(std::stoull(versions[i]), std::stoull(versions[i - 1]))
        << "write " << i << ": " << versions[i - 1] << " then " << versions[i];
  }
  EXPECT_GT(std::stoull(versions.front()), 4294967296ULL) << "beyond 32 bits, as on a real cluster";

  // A write that changes nothing is no write.
  HttpReply same = Patch(kPods + "/c", {{"metadata", {{"labels", {{"role", "primary"}}}}}});
  ASSERT_EQ(same.status, 200) << same.Describe();
  EXPECT_EQ(same.resource_version(), versions[5]);
  EXPECT_EQ(Get(kLeases).resource_version(), list_version);
}

TEST_F(KubernetesApiDoubleTest, ListPagesWithLimitAndContinue) {
  for (const std::string name : {"e", "a", "d", "b", "c"}) MustCreate(kConfigMaps, ConfigMap(name));
  std::vector<std::string> seen;
  std::string next;
  int pages = 0;
  do {
    std::string path = kConfigMaps + "?limit=2";
    if (!next.empty()) path += "&continue=" + QueryValue(next);
    HttpReply page = Get(path);
    ASSERT_EQ(page.status, 200) << page.Describe();
    EXPECT_LE(page.body["items"].size(), 2u);
    for (const std::string& name : ItemNames(page.body)) seen.push_back(name);
    next = page.body["metadata"].value("continue", "");
    ASSERT_LT(++pages, 5);
  } while (!next.empty());
  EXPECT_EQ(pages, 3);
  EXPECT_EQ(seen, (std::vector<std::string>{"a", "b", "c", "d", "e"}));
}

TEST_F(KubernetesApiDoubleTest, ConcurrentCompareAndSwapLosesNoUpdate) {
  MustCreate(kConfigMaps, ConfigMap("counter", {{"n", "0"}}));
  constexpr int kWriters = 4;
  constexpr int kIncrements = 10;
  std::atomic<int> conflicts{0};
  std::atomic<int> failures{0};
  std::vector<std::thread> writers;
  for (int w = 0; w < kWriters; ++w) {
    writers.emplace_back([&] {
      for (int i = 0; i < kIncrements; ++i) {
        for (int attempt = 0;; ++attempt) {
          HttpReply current = Get(kConfigMaps + "/counter");
          if (current.status != 200 || attempt > 1000) {
            ++failures;
            return;
          }
          json next = current.body;
          next["data"]["n"] = std::to_string(std::stoi(next["data"]["n"].get<std::string>()) + 1);
          HttpReply written = Put(kConfigMaps + "/counter", next);
          if (written.status == 200) break;
          if (written.status != 409) {
            ++failures;
            return;
          }
          ++conflicts;
        }
      }
    });
  }
  for (std::thread& writer : writers) writer.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(Get(kConfigMaps + "/counter").body["data"]["n"],
            std::to_string(kWriters * kIncrements));
}

TEST_F(KubernetesApiDoubleTest, DirectAccessorsShareTheStoreAndReportErrors) {
  auto created = api_->Create("leases", "ns1", Lease("pg-leader", "node-1").dump());
  ASSERT_TRUE(created.ok()) << created.error().ToString();
  HttpReply got = Get(kLeases + "/pg-leader");
  ASSERT_EQ(got.status, 200);
  EXPECT_EQ(got.body, json::parse(*created));

  auto again = api_->Create("leases", "ns1", Lease("pg-leader", "node-2").dump());
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code, ErrorCode::kFailedPrecondition);
  EXPECT_EQ(api_->Get("leases", "ns1", "absent").error().code, ErrorCode::kNotFound);
  EXPECT_EQ(api_->Get("secrets", "ns1", "x").error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(api_->List("leases", "ns1", "app in (").error().code, ErrorCode::kInvalidArgument);

  // Another writer takes the lease: the HTTP client's resourceVersion is now stale.
  auto taken = api_->Patch("leases", "ns1", "pg-leader", R"({"spec":{"holderIdentity":"node-9"}})");
  ASSERT_TRUE(taken.ok()) << taken.error().ToString();
  ExpectStatus(Put(kLeases + "/pg-leader", got.body), 409, "Conflict");
  EXPECT_TRUE(api_->Delete("leases", "ns1", "pg-leader").ok());
  EXPECT_EQ(api_->Delete("leases", "ns1", "pg-leader").error().code, ErrorCode::kNotFound);
  ExpectStatus(Get(kLeases + "/pg-leader"), 404, "NotFound");
}

TEST_F(KubernetesApiDoubleTest, RequestCountCountsByMethodAndPath) {
  EXPECT_EQ(api_->RequestCount(), 0);
  MustCreate(kLeases, Lease("pg-leader", "node-1"));
  Get(kLeases + "/pg-leader");
  Get(kLeases + "/pg-leader");
  Get(kConfigMaps);
  EXPECT_EQ(api_->RequestCount(), 4);
  EXPECT_EQ(api_->RequestCount("GET"), 3);
  EXPECT_EQ(api_->RequestCount("GET", kLeases), 2);
  EXPECT_EQ(api_->RequestCount("POST", kLeases), 1);
  EXPECT_EQ(api_->RequestCount("", kConfigMaps), 1);
  EXPECT_EQ(api_->RequestCount("PATCH"), 0);
}

TEST(KubernetesApiDoubleAuthTest, RequestsNeedTheBearerToken) {
  auto started = KubernetesApiDouble::Start({.bearer_token = "s3cret-token"});
  ASSERT_TRUE(started.ok()) << started.error().ToString();
  auto& api = *started;
  HttpReply anonymous = Send(api->url(), {.path = kLeases});
  ExpectStatus(anonymous, 401, "Unauthorized");
  ExpectStatus(Send(api->url(), {.path = kLeases, .token = "wrong"}), 401, "Unauthorized");
  ExpectStatus(Send(api->url(), {.method = "POST",
                                 .path = kLeases,
                                 .body = Lease("pg-leader", "node-1").dump()}),
               401, "Unauthorized");
  EXPECT_FALSE(api->Get("leases", "ns1", "pg-leader").ok())
      << "an unauthorized POST stores nothing";

  HttpReply authorized = Send(api->url(), {.path = kLeases, .token = "s3cret-token"});
  EXPECT_EQ(authorized.status, 200) << authorized.Describe();
  EXPECT_EQ(authorized.body["kind"], "LeaseList");
  EXPECT_EQ(api->RequestCount(), 4);
}

TEST_F(KubernetesApiDoubleTest, PauseMakesClientsTimeOutAndResumeAnswersAgain) {
  MustCreate(kLeases, Lease("pg-leader", "node-1"));
  api_->Pause();
  EXPECT_TRUE(api_->paused());
  const auto start = Clock::now();
  HttpReply frozen = Do({.path = kLeases + "/pg-leader", .timeout = Duration(300)});
  const auto waited = Clock::now() - start;
  EXPECT_EQ(frozen.status, 0) << frozen.Describe();
  EXPECT_EQ(frozen.error, httplib::Error::Read) << "connected, then no answer";
  EXPECT_GE(waited, std::chrono::milliseconds(250));
  EXPECT_LT(waited, std::chrono::milliseconds(2000));
  EXPECT_EQ(api_->RequestCount("GET", kLeases), 1) << "the request arrived";

  // A paused request holds no lock: the test can still set up and inspect objects.
  auto direct_start = Clock::now();
  EXPECT_TRUE(api_->Create("configmaps", "ns1", ConfigMap("side").dump()).ok());
  EXPECT_TRUE(api_->Get("leases", "ns1", "pg-leader").ok());
  EXPECT_LT(Clock::now() - direct_start, std::chrono::milliseconds(200));

  api_->Resume();
  HttpReply answered = Do({.path = kLeases + "/pg-leader", .timeout = Duration(2000)});
  EXPECT_EQ(answered.status, 200) << answered.Describe();
}

TEST_F(KubernetesApiDoubleTest, StopRefusesConnectionsAndRestartKeepsObjects) {
  json created = MustCreate(kLeases, Lease("pg-leader", "node-1"));
  const int port = api_->port();
  ASSERT_TRUE(api_->Stop().ok());
  EXPECT_FALSE(api_->running());
  HttpReply refused = Do({.path = kLeases + "/pg-leader", .timeout = Duration(1000)});
  EXPECT_EQ(refused.status, 0) << refused.Describe();
  EXPECT_EQ(refused.error, httplib::Error::Connection) << httplib::to_string(refused.error);
  ASSERT_TRUE(api_->Stop().ok()) << "stopping twice is fine";

  ASSERT_TRUE(api_->Restart().ok());
  EXPECT_TRUE(api_->running());
  EXPECT_EQ(api_->port(), port);
  HttpReply got = Get(kLeases + "/pg-leader");
  ASSERT_EQ(got.status, 200) << got.Describe();
  EXPECT_EQ(got.body, created);
  EXPECT_EQ(Post(kLeases, Lease("pg-leader", "node-2")).status, 409);
}

TEST(KubernetesApiDoubleLifecycleTest, StopAndDestructionReleasePausedRequests) {
  auto started = KubernetesApiDouble::Start();
  ASSERT_TRUE(started.ok()) << started.error().ToString();
  std::unique_ptr<KubernetesApiDouble> api = std::move(*started);
  const std::string url = api->url();
  api->Pause();
  HttpReply released;
  std::thread client([&] { released = Send(url, {.path = kLeases, .timeout = Duration(10000)}); });
  const auto deadline = Clock::now() + std::chrono::seconds(5);
  while (api->RequestCount() == 0 && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_EQ(api->RequestCount(), 1);
  const auto start = Clock::now();
  api.reset();
  EXPECT_LT(Clock::now() - start, std::chrono::milliseconds(2000)) << "destruction did not hang";
  client.join();
  EXPECT_EQ(released.status, 503) << released.Describe();
}

}  // namespace
}  // namespace pgpilot
