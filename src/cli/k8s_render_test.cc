#include "cli/k8s_render.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "agent/config.h"
#include "api/health.h"
#include "cli/command_line.h"
#include "platform/process.h"
#include "store/k8s_names.h"
#include "support/temp_dir.h"

namespace pgpilot {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::UnorderedElementsAreArray;

using Labels = std::map<std::string, std::string>;

const std::string kValidator = std::string(PGPILOT_SOURCE_DIR) + "/tests/k8s/validate_manifests.py";

K8sRenderOptions Options(const std::string& name = "demo") {
  K8sRenderOptions o;
  o.name = name;
  return o;
}

std::string RenderText(const K8sRenderOptions& o) {
  auto text = RenderKubernetesManifests(o);
  EXPECT_TRUE(text.ok()) << text.error().ToString();
  return text.ok() ? *text : "";
}

std::vector<YAML::Node> Parse(const std::string& text) {
  std::vector<YAML::Node> docs;
  for (const auto& doc : YAML::LoadAll(text)) {
    if (!doc.IsNull()) docs.push_back(doc);
  }
  return docs;
}

std::vector<YAML::Node> Render(const K8sRenderOptions& o) { return Parse(RenderText(o)); }

std::vector<YAML::Node> OfKind(const std::vector<YAML::Node>& docs, const std::string& kind) {
  std::vector<YAML::Node> out;
  for (const auto& d : docs) {
    if (d["kind"].as<std::string>() == kind) out.push_back(d);
  }
  return out;
}

// The one object of this kind and name; a test failure (and a null node) otherwise.
YAML::Node Find(const std::vector<YAML::Node>& docs, const std::string& kind, const std::string& name) {
  YAML::Node found;
  int count = 0;
  for (const auto& d : OfKind(docs, kind)) {
    if (d["metadata"]["name"].as<std::string>() == name) {
      found = d;
      ++count;
    }
  }
  EXPECT_EQ(count, 1) << kind << " " << name;
  return found;
}

bool Has(const std::vector<YAML::Node>& docs, const std::string& kind, const std::string& name) {
  for (const auto& d : OfKind(docs, kind)) {
    if (d["metadata"]["name"].as<std::string>() == name) return true;
  }
  return false;
}

Labels AsLabels(const YAML::Node& node) {
  Labels out;
  for (const auto& kv : node) out[kv.first.as<std::string>()] = kv.second.as<std::string>();
  return out;
}

YAML::Node PodSpec(const std::vector<YAML::Node>& docs, const std::string& name) {
  return Find(docs, "StatefulSet", name)["spec"]["template"]["spec"];
}

YAML::Node Container(const std::vector<YAML::Node>& docs, const std::string& name) {
  YAML::Node containers = PodSpec(docs, name)["containers"];
  EXPECT_EQ(containers.size(), 1u);
  return containers[0];
}

YAML::Node ByName(const YAML::Node& list, const std::string& name) {
  for (const auto& item : list) {
    if (item["name"].as<std::string>() == name) return item;
  }
  ADD_FAILURE() << "no entry named " << name;
  return YAML::Node();
}

YAML::Node MountAt(const YAML::Node& container, const std::string& path) {
  for (const auto& m : container["volumeMounts"]) {
    if (m["mountPath"].as<std::string>() == path) return m;
  }
  ADD_FAILURE() << "nothing is mounted at " << path;
  return YAML::Node();
}

std::string DirOf(const std::string& path) { return path.substr(0, path.rfind('/')); }
std::string BaseOf(const std::string& path) { return path.substr(path.rfind('/') + 1); }

// Sets the variables the kubelet gives the agent, for as long as it lives.
class PodEnvironment {
 public:
  PodEnvironment() {
    setenv("POD_NAME", "demo-1", 1);
    setenv("POD_NAMESPACE", "databases", 1);
    setenv("POD_IP", "10.244.1.7", 1);
  }
  ~PodEnvironment() {
    unsetenv("POD_NAME");
    unsetenv("POD_NAMESPACE");
    unsetenv("POD_IP");
  }
};

Result<AgentConfig> EmbeddedConfig(const std::vector<YAML::Node>& docs, const std::string& name) {
  YAML::Node cm = Find(docs, "ConfigMap", name + "-config");
  return ParseAgentConfig(cm["data"]["agent.yaml"].as<std::string>(), "ConfigMap " + name + "-config");
}

// Runs the offline validator on `text`; its exit code and output.
std::pair<int, std::string> Validate(const std::string& text) {
  testing::ScratchDir dir("pgpilot-k8s-render");
  std::string file = dir.path() + "/manifests.yaml";
  std::ofstream(file) << text;
  ProcessRunner runner;
  auto run = runner.Run(ProcessSpec{{"/usr/bin/python3", kValidator, file}}, Duration(120000));
  if (!run.ok()) return {-1, run.error().ToString()};
  return {run->status.code, run->output};
}

std::string ReplaceOnce(std::string text, const std::string& from, const std::string& to) {
  size_t at = text.find(from);
  EXPECT_NE(at, std::string::npos) << "not in the rendered text: " << from;
  if (at != std::string::npos) text.replace(at, from.size(), to);
  return text;
}

// ---- offline validation -----------------------------------------------------------------------

TEST(K8sRenderValidation, EveryObjectValidatesAgainstTheTypedModels) {
  K8sRenderOptions custom = Options("orders");
  custom.namespace_name = "databases";
  custom.replicas = 5;
  custom.storage = "20Gi";
  custom.storage_class = "fast-ssd";
  custom.superuser_secret = "orders-admin";
  custom.allowed_networks = {"10.244.0.0/16", "fd00::/8"};
  custom.ttl_seconds = 6;
  custom.pg_tls_secret = "orders-pg-tls";
  for (const auto& options : {Options(), custom}) {
    std::string text = RenderText(options);
    auto [code, output] = Validate(text);
    EXPECT_EQ(code, 0) << output;
    size_t documents = Parse(text).size();
    size_t ok_lines = 0;
    for (size_t at = output.find("ok: "); at != std::string::npos; at = output.find("ok: ", at + 1)) ++ok_lines;
    EXPECT_EQ(ok_lines, documents) << output;
  }
}

TEST(K8sRenderValidation, ValidatorRejectsBrokenManifests) {
  std::string text = RenderText(Options());
  struct Case {
    const char* what;
    std::string broken;
    std::string expected;  // in the validator's output
  };
  std::vector<Case> cases = {
      {"misspelt field",
       ReplaceOnce(text, "  podManagementPolicy: Parallel\n", "  podManagmentPolicy: Parallel\n"),
       "spec.podManagmentPolicy: unknown field of V1StatefulSetSpec"},
      {"wrong type", ReplaceOnce(text, "  replicas: 3\n", "  replicas: three\n"),
       "spec.replicas: must be an integer"},
      {"missing required field", ReplaceOnce(text, "                topologyKey: kubernetes.io/hostname\n", ""),
       "topology_key"},
      {"selector not matching the pod template",
       ReplaceOnce(text, "  selector:\n    matchLabels:\n      pgpilot.io/cluster: demo\n  template:",
                   "  selector:\n    matchLabels:\n      pgpilot.io/cluster: other\n  template:"),
       "does not match the pod template"},
      {"mount of an undeclared volume",
       ReplaceOnce(text, "            - name: data\n              mountPath:", "            - name: date\n              mountPath:"),
       "names volume 'date'"},
      {"wrong apiVersion", ReplaceOnce(text, "apiVersion: policy/v1\n", "apiVersion: policy/v1beta2\n"),
       "wrong for PodDisruptionBudget"},
      {"label value that is not a string",
       ReplaceOnce(text, "    app.kubernetes.io/instance: demo\n", "    app.kubernetes.io/instance: yes\n"),
       "metadata.labels.app.kubernetes.io/instance: must be a string, not bool"},
      {"label value the API server refuses",
       ReplaceOnce(text, "    app.kubernetes.io/instance: demo\n", "    app.kubernetes.io/instance: not valid!\n"),
       "is not a valid label value"},
  };
  for (const auto& c : cases) {
    auto [code, output] = Validate(c.broken);
    EXPECT_EQ(code, 1) << c.what << "\n" << output;
    EXPECT_THAT(output, HasSubstr("INVALID: document")) << c.what;
    EXPECT_THAT(output, HasSubstr(c.expected)) << c.what;
  }
  auto [code, output] = Validate("apiVersion: v1\nkind: [not yaml\n");
  EXPECT_EQ(code, 2) << output;
}

TEST(K8sRenderValidation, NamesThatReadAsYamlBooleansStayStrings) {
  // YAML 1.1 readers (kubectl's, python's) take a plain `no` or `on` for a boolean.
  for (const char* name : {"no", "on", "y", "null"}) {
    std::string text = RenderText(Options(name));
    auto [code, output] = Validate(text);
    EXPECT_EQ(code, 0) << name << "\n" << output;
    auto docs = Parse(text);
    EXPECT_EQ(Find(docs, "StatefulSet", name)["metadata"]["labels"][std::string(k8s::kClusterLabel)]
                  .as<std::string>(),
              name);
  }
}

// ---- properties of the objects ----------------------------------------------------------------

TEST(K8sRenderObjects, EveryObjectIsLabelledAndInTheNamespace) {
  K8sRenderOptions o = Options("orders");
  o.namespace_name = "databases";
  auto docs = Render(o);
  ASSERT_EQ(docs.size(), 11u);
  std::multiset<std::string> kinds;
  for (const auto& d : docs) {
    kinds.insert(d["kind"].as<std::string>());
    std::string what = d["kind"].as<std::string>() + " " + d["metadata"]["name"].as<std::string>();
    EXPECT_EQ(d["metadata"]["namespace"].as<std::string>(), "databases") << what;
    Labels labels = AsLabels(d["metadata"]["labels"]);
    EXPECT_EQ(labels["app.kubernetes.io/name"], "pgpilot") << what;
    EXPECT_EQ(labels["app.kubernetes.io/instance"], "orders") << what;
    EXPECT_EQ(labels[std::string(k8s::kClusterLabel)], "orders") << what;
  }
  EXPECT_EQ(kinds, (std::multiset<std::string>{"Secret", "Secret", "ConfigMap", "ServiceAccount", "Role",
                                               "RoleBinding", "Service", "Service", "Service", "StatefulSet",
                                               "PodDisruptionBudget"}));
  for (const auto& [kind, name] : std::vector<std::pair<std::string, std::string>>{
           {"Secret", "orders-superuser"}, {"Secret", "orders-replication"}, {"ConfigMap", "orders-config"},
           {"ServiceAccount", "orders"}, {"Role", "orders"}, {"RoleBinding", "orders"}, {"Service", "orders"},
           {"Service", "orders-primary"}, {"Service", "orders-replicas"}, {"StatefulSet", "orders"},
           {"PodDisruptionBudget", "orders"}}) {
    EXPECT_TRUE(Has(docs, kind, name)) << kind << " " << name;
  }
}

TEST(K8sRenderObjects, DataDirectoryIsASubdirectoryOfTheVolume) {
  PodEnvironment env;
  auto docs = Render(Options());
  auto config = EmbeddedConfig(docs, "demo");
  ASSERT_TRUE(config.ok()) << config.error().ToString();
  YAML::Node sts = Find(docs, "StatefulSet", "demo");
  std::string claim = sts["spec"]["volumeClaimTemplates"][0]["metadata"]["name"].as<std::string>();
  std::string mount = ByName(Container(docs, "demo")["volumeMounts"], claim)["mountPath"].as<std::string>();
  EXPECT_EQ(config->data_dir.rfind(mount + "/", 0), 0u) << config->data_dir << " is not under " << mount;
  EXPECT_GT(config->data_dir.size(), mount.size() + 1);
  // The state (passfile, PostgreSQL's log) survives restarts on the same volume.
  EXPECT_EQ(config->state_dir.rfind(mount + "/", 0), 0u) << config->state_dir;
  EXPECT_NE(config->state_dir, config->data_dir);
  EXPECT_EQ(config->pg_log_file.rfind(mount + "/", 0), 0u) << config->pg_log_file;
}

TEST(K8sRenderObjects, SelectorsMatchThePodLabels) {
  auto docs = Render(Options());
  YAML::Node sts = Find(docs, "StatefulSet", "demo");
  Labels pod = AsLabels(sts["spec"]["template"]["metadata"]["labels"]);
  // Roles come from the store: the template never fixes one.
  EXPECT_EQ(pod.count(std::string(k8s::kRoleLabel)), 0u);
  auto subset = [&](const Labels& selector, const std::string& what) {
    EXPECT_FALSE(selector.empty()) << what;
    for (const auto& [k, v] : selector) {
      EXPECT_TRUE(pod.count(k) && pod[k] == v) << what << " selects " << k << "=" << v;
    }
  };
  subset(AsLabels(sts["spec"]["selector"]["matchLabels"]), "StatefulSet");
  subset(AsLabels(Find(docs, "Service", "demo")["spec"]["selector"]), "headless Service");
  subset(AsLabels(Find(docs, "PodDisruptionBudget", "demo")["spec"]["selector"]["matchLabels"]), "PDB");
  EXPECT_EQ(Find(docs, "Service", "demo")["spec"]["clusterIP"].as<std::string>(), "None");
  EXPECT_TRUE(Find(docs, "Service", "demo")["spec"]["publishNotReadyAddresses"].as<bool>());
  EXPECT_EQ(sts["spec"]["serviceName"].as<std::string>(), "demo");

  for (const auto& [service, role] : {std::pair{"demo-primary", k8s::kRolePrimary},
                                      std::pair{"demo-replicas", k8s::kRoleReplica}}) {
    Labels selector = AsLabels(Find(docs, "Service", service)["spec"]["selector"]);
    Labels extra;
    for (const auto& [k, v] : selector) {
      if (pod.count(k) && pod[k] == v) continue;
      extra[k] = v;
    }
    EXPECT_EQ(extra, (Labels{{std::string(k8s::kRoleLabel), std::string(role)}})) << service;
    YAML::Node ports = Find(docs, "Service", service)["spec"]["ports"];
    ASSERT_EQ(ports.size(), 1u);
    EXPECT_EQ(ports[0]["port"].as<int>(), 5432);
    EXPECT_EQ(ports[0]["targetPort"].as<int>(), 5432);
  }
}

TEST(K8sRenderObjects, ProbesUseEndpointsTheAgentServes) {
  PodEnvironment env;
  auto docs = Render(Options());
  auto config = EmbeddedConfig(docs, "demo");
  ASSERT_TRUE(config.ok()) << config.error().ToString();
  std::set<std::string> served;
  for (const auto& route : HealthRoutes()) served.insert(route.path);
  YAML::Node container = Container(docs, "demo");
  std::map<std::string, std::string> probes;
  for (const char* probe : {"readinessProbe", "livenessProbe"}) {
    YAML::Node get = container[probe]["httpGet"];
    ASSERT_TRUE(get.IsMap()) << probe;
    std::string path = get["path"].as<std::string>();
    EXPECT_TRUE(served.count(path)) << probe << " asks for " << path << ", which the agent does not serve";
    EXPECT_EQ(get["port"].as<int>(), config->api_listen.port) << probe;
    probes[probe] = path;
  }
  EXPECT_EQ(probes["readinessProbe"], "/readiness");
  EXPECT_EQ(probes["livenessProbe"], "/liveness");
  EXPECT_EQ(ByName(container["ports"], "api")["containerPort"].as<int>(), config->api_listen.port);
  EXPECT_EQ(ByName(container["ports"], "postgresql")["containerPort"].as<int>(), config->pg_port);
  // Generous liveness: a minute or more of failures before the kubelet restarts the agent.
  YAML::Node live = container["livenessProbe"];
  EXPECT_GE(live["failureThreshold"].as<int>() * live["periodSeconds"].as<int>(), 60);
}

TEST(K8sRenderObjects, EmbeddedAgentConfigParsesInThePodAndNamesTheKubernetesStore) {
  K8sRenderOptions o = Options();
  o.ttl_seconds = 6;
  o.allowed_networks = {"10.244.0.0/16", " 10.96.0.0/12"};
  auto docs = Render(o);
  {
    PodEnvironment env;
    auto config = EmbeddedConfig(docs, "demo");
    ASSERT_TRUE(config.ok()) << config.error().ToString();
    EXPECT_EQ(config->cluster, "demo");
    EXPECT_EQ(config->name, "demo-1");
    EXPECT_TRUE(config->store.is_kubernetes());
    EXPECT_FALSE(config->store.is_etcd());
    EXPECT_TRUE(config->store.sqlite_path.empty());
    EXPECT_EQ(config->store.kubernetes.namespace_name, "databases");
    EXPECT_EQ(config->api_connect.ToString(), "10.244.1.7:8008");
    EXPECT_EQ(config->api_listen.ToString(), "0.0.0.0:8008");
    EXPECT_EQ(config->pg_connect_host, "10.244.1.7");
    EXPECT_EQ(config->pg_listen, "*");
    EXPECT_EQ(config->ttl, Duration(6000));
    EXPECT_EQ(config->loop_wait, Duration(1000));
    EXPECT_EQ(config->allowed_networks, (std::vector<std::string>{"10.244.0.0/16", "10.96.0.0/12"}));
    EXPECT_EQ(config->log_format, LogFormat::kJson);
  }
  // The pod's environment really is what names the member.
  auto without_env = EmbeddedConfig(docs, "demo");
  ASSERT_FALSE(without_env.ok());
  EXPECT_THAT(without_env.error().ToString(), HasSubstr("POD_NAME"));

  // The container runs the agent on the file the ConfigMap's key is mounted as.
  YAML::Node container = Container(docs, "demo");
  std::vector<std::string> command = container["command"].as<std::vector<std::string>>();
  ASSERT_EQ(command.size(), 4u);
  EXPECT_EQ(command[1], "agent");
  EXPECT_EQ(command[2], "--config");
  YAML::Node mount = MountAt(container, command[3]);
  ASSERT_TRUE(mount.IsMap());
  YAML::Node volume = ByName(PodSpec(docs, "demo")["volumes"], mount["name"].as<std::string>());
  EXPECT_EQ(volume["configMap"]["name"].as<std::string>(), "demo-config");
  EXPECT_EQ(ByName(container["env"], "POD_NAME")["valueFrom"]["fieldRef"]["fieldPath"].as<std::string>(),
            "metadata.name");
  EXPECT_EQ(ByName(container["env"], "POD_NAMESPACE")["valueFrom"]["fieldRef"]["fieldPath"].as<std::string>(),
            "metadata.namespace");
  EXPECT_EQ(ByName(container["env"], "POD_IP")["valueFrom"]["fieldRef"]["fieldPath"].as<std::string>(),
            "status.podIP");
  std::string file;
  for (const auto& item : volume["configMap"]["items"]) {
    if (item["path"].as<std::string>() == mount["subPath"].as<std::string>()) file = item["key"].as<std::string>();
  }
  EXPECT_EQ(file, "agent.yaml");
}

TEST(K8sRenderObjects, RbacAllowsExactlyWhatTheStoreNeeds) {
  auto docs = Render(Options());
  EXPECT_TRUE(OfKind(docs, "ClusterRole").empty());
  EXPECT_TRUE(OfKind(docs, "ClusterRoleBinding").empty());
  YAML::Node role = Find(docs, "Role", "demo");
  using Rule = std::tuple<std::string, std::string, std::set<std::string>, std::set<std::string>>;
  std::vector<Rule> rules;
  for (const auto& r : role["rules"]) {
    std::set<std::string> names, verbs;
    if (r["resourceNames"]) {
      for (const auto& n : r["resourceNames"]) names.insert(n.as<std::string>());
    }
    for (const auto& v : r["verbs"]) verbs.insert(v.as<std::string>());
    ASSERT_EQ(r["apiGroups"].size(), 1u);
    ASSERT_EQ(r["resources"].size(), 1u);
    EXPECT_FALSE(r["nonResourceURLs"]);
    rules.emplace_back(r["apiGroups"][0].as<std::string>(), r["resources"][0].as<std::string>(), names, verbs);
  }
  std::vector<Rule> expected = {
      {"coordination.k8s.io", "leases", {}, {"create"}},
      {"coordination.k8s.io", "leases", {k8s::LeaseName("demo")}, {"get", "update"}},
      {"", "configmaps", {}, {"create"}},
      {"", "configmaps", {k8s::ClusterConfigMapName("demo"), k8s::MembersConfigMapName("demo")},
       {"get", "update", "patch"}},
      {"", "pods", {}, {"get", "list", "patch"}},
  };
  EXPECT_THAT(rules, UnorderedElementsAreArray(expected));
  std::string text = YAML::Dump(role);
  EXPECT_THAT(text, Not(HasSubstr("*")));

  YAML::Node binding = Find(docs, "RoleBinding", "demo");
  EXPECT_EQ(binding["roleRef"]["kind"].as<std::string>(), "Role");
  EXPECT_EQ(binding["roleRef"]["name"].as<std::string>(), "demo");
  ASSERT_EQ(binding["subjects"].size(), 1u);
  EXPECT_EQ(binding["subjects"][0]["kind"].as<std::string>(), "ServiceAccount");
  EXPECT_EQ(binding["subjects"][0]["name"].as<std::string>(), "demo");
  EXPECT_EQ(binding["subjects"][0]["namespace"].as<std::string>(), "default");
  EXPECT_TRUE(Has(docs, "ServiceAccount", "demo"));
  EXPECT_EQ(PodSpec(docs, "demo")["serviceAccountName"].as<std::string>(), "demo");
}

// The Secret volume mounted where the config's password_file lives, and the key it shows there.
std::pair<std::string, std::string> SecretBehind(const std::vector<YAML::Node>& docs, const std::string& file) {
  YAML::Node mount = MountAt(Container(docs, "demo"), DirOf(file));
  if (!mount.IsMap()) return {};
  YAML::Node secret = ByName(PodSpec(docs, "demo")["volumes"], mount["name"].as<std::string>())["secret"];
  EXPECT_TRUE(secret.IsMap()) << file << " is not on a Secret volume";
  if (!secret.IsMap()) return {};
  // Group-readable only: root-owned files whose group is the pod's fsGroup.
  EXPECT_EQ(secret["defaultMode"].as<int>(), 0440);
  std::string key;
  for (const auto& item : secret["items"]) {
    if (item["path"].as<std::string>() == BaseOf(file)) key = item["key"].as<std::string>();
  }
  return {secret["secretName"].as<std::string>(), key};
}

TEST(K8sRenderObjects, SecretMountsHoldTheConfiguredPasswordFiles) {
  PodEnvironment env;
  auto docs = Render(Options());
  auto config = EmbeddedConfig(docs, "demo");
  ASSERT_TRUE(config.ok()) << config.error().ToString();
  EXPECT_EQ(config->superuser, "postgres");
  EXPECT_EQ(config->replication_user, "replicator");
  for (const auto& [file, secret_name] :
       {std::pair{config->superuser_password_file, std::string("demo-superuser")},
        std::pair{config->replication_password_file, std::string("demo-replication")}}) {
    auto [secret, key] = SecretBehind(docs, file);
    EXPECT_EQ(secret, secret_name) << file;
    EXPECT_EQ(key, "password") << file;
    YAML::Node object = Find(docs, "Secret", secret_name);
    EXPECT_EQ(object["type"].as<std::string>(), "Opaque");
    std::string password = object["stringData"]["password"].as<std::string>();
    EXPECT_EQ(password.size(), 32u);
  }
  // Nothing else hides a file of the config behind another mount.
  std::set<std::string> mounts;
  for (const auto& m : Container(docs, "demo")["volumeMounts"]) mounts.insert(m["mountPath"].as<std::string>());
  EXPECT_EQ(mounts.size(), 4u);
}

TEST(K8sRenderObjects, PgTlsSecretIsMountedWhereTheConfigsTlsFilesAre) {
  {
    PodEnvironment env;
    auto config = EmbeddedConfig(Render(Options()), "demo");
    ASSERT_TRUE(config.ok()) << config.error().ToString();
    EXPECT_FALSE(config->pg_tls.enabled()) << "no TLS unless a Secret is given";
  }
  K8sRenderOptions o = Options();
  o.pg_tls_secret = "demo-pg-tls";
  auto docs = Render(o);
  EXPECT_FALSE(Has(docs, "Secret", "demo-pg-tls")) << "it exists already (cert-manager's); never rendered";
  PodEnvironment env;
  auto config = EmbeddedConfig(docs, "demo");
  ASSERT_TRUE(config.ok()) << config.error().ToString();
  EXPECT_EQ(config->pg_tls.mode, PgTlsMode::kVerifyCa) << "pod IPs: a certificate cannot name them ahead";
  for (const auto& [file, key] : {std::pair{config->pg_tls.cert_file, std::string("tls.crt")},
                                  std::pair{config->pg_tls.key_file, std::string("tls.key")},
                                  std::pair{config->pg_tls.ca_file, std::string("ca.crt")}}) {
    EXPECT_EQ(SecretBehind(docs, file), (std::pair<std::string, std::string>{"demo-pg-tls", key})) << file;
  }
  EXPECT_EQ(MountAt(Container(docs, "demo"), kK8sPgTlsDir)["readOnly"].as<bool>(), true);

  o.pg_tls_secret = "Demo TLS";
  auto bad = RenderKubernetesManifests(o);
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.error().message, HasSubstr("--pg-tls-secret 'Demo TLS'"));
  EXPECT_THAT(bad.error().hint, HasSubstr("tls.key"));
}

TEST(K8sRenderObjects, GivenSecretsAreUsedInsteadOfNewOnes) {
  K8sRenderOptions o = Options();
  o.superuser_secret = "company-pg-admin";
  auto docs = Render(o);
  EXPECT_FALSE(Has(docs, "Secret", "demo-superuser"));
  EXPECT_FALSE(Has(docs, "Secret", "company-pg-admin"));  // it exists already; never overwritten
  EXPECT_TRUE(Has(docs, "Secret", "demo-replication"));
  PodEnvironment env;
  auto config = EmbeddedConfig(docs, "demo");
  ASSERT_TRUE(config.ok()) << config.error().ToString();
  EXPECT_EQ(SecretBehind(docs, config->superuser_password_file),
            (std::pair<std::string, std::string>{"company-pg-admin", "password"}));
  EXPECT_EQ(SecretBehind(docs, config->replication_password_file).first, "demo-replication");

  o.replication_secret = "company-pg-repl";
  docs = Render(o);
  EXPECT_TRUE(OfKind(docs, "Secret").empty());
  EXPECT_EQ(SecretBehind(docs, config->replication_password_file).first, "company-pg-repl");
}

TEST(K8sRenderObjects, PasswordsAreFreshOnEveryRun) {
  auto first = Render(Options());
  auto second = Render(Options());
  auto password = [](const std::vector<YAML::Node>& docs, const std::string& name) {
    return Find(docs, "Secret", name)["stringData"]["password"].as<std::string>();
  };
  EXPECT_NE(password(first, "demo-superuser"), password(second, "demo-superuser"));
  EXPECT_NE(password(first, "demo-replication"), password(second, "demo-replication"));
  EXPECT_NE(password(first, "demo-superuser"), password(first, "demo-replication"));
}

TEST(K8sRenderObjects, StatefulSetFollowsTheOptions) {
  K8sRenderOptions o = Options("orders");
  o.replicas = 5;
  o.storage = "20Gi";
  o.storage_class = "fast-ssd";
  o.image = "registry.example.com/pgpilot:0.1.1";
  auto docs = Render(o);
  YAML::Node spec = Find(docs, "StatefulSet", "orders")["spec"];
  EXPECT_EQ(spec["replicas"].as<int>(), 5);
  EXPECT_EQ(spec["podManagementPolicy"].as<std::string>(), "Parallel");
  YAML::Node claim = spec["volumeClaimTemplates"][0]["spec"];
  EXPECT_EQ(claim["resources"]["requests"]["storage"].as<std::string>(), "20Gi");
  EXPECT_EQ(claim["storageClassName"].as<std::string>(), "fast-ssd");
  EXPECT_EQ(claim["accessModes"].as<std::vector<std::string>>(), std::vector<std::string>{"ReadWriteOnce"});
  YAML::Node pod = spec["template"]["spec"];
  EXPECT_EQ(pod["containers"][0]["image"].as<std::string>(), o.image);
  EXPECT_EQ(pod["terminationGracePeriodSeconds"].as<int>(), 60);
  YAML::Node security = pod["securityContext"];
  for (const char* id : {"runAsUser", "runAsGroup", "fsGroup"}) EXPECT_EQ(security[id].as<int>(), 999) << id;
  EXPECT_TRUE(security["runAsNonRoot"].as<bool>());
  YAML::Node anti = pod["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"][0];
  EXPECT_EQ(anti["podAffinityTerm"]["topologyKey"].as<std::string>(), "kubernetes.io/hostname");
  EXPECT_EQ(pod["containers"][0]["resources"]["requests"]["cpu"].as<std::string>(), "100m");
  EXPECT_EQ(pod["containers"][0]["resources"]["requests"]["memory"].as<std::string>(), "256Mi");
  EXPECT_EQ(Find(docs, "PodDisruptionBudget", "orders")["spec"]["maxUnavailable"].as<int>(), 1);

  // Without a class, the field is left out so the cluster's default StorageClass applies.
  docs = Render(Options());
  EXPECT_FALSE(Find(docs, "StatefulSet", "demo")["spec"]["volumeClaimTemplates"][0]["spec"]["storageClassName"]);
}

// ---- bad input --------------------------------------------------------------------------------

TEST(K8sRenderInput, BadOptionsGiveClearErrors) {
  struct Case {
    std::function<void(K8sRenderOptions&)> change;
    std::string message;  // part of the error
  };
  std::vector<Case> cases = {
      {[](auto& o) { o.name = ""; }, "--name is required"},
      {[](auto& o) { o.name = "Orders"; }, "not a valid DNS label"},
      {[](auto& o) { o.name = "9lives"; }, "starting with a letter"},
      {[](auto& o) { o.name = "orders-"; }, "not a valid DNS label"},
      {[](auto& o) { o.name = "my_db"; }, "not a valid DNS label"},
      {[](auto& o) { o.name = std::string(41, 'a'); }, "41 characters long; at most 40"},
      {[](auto& o) { o.namespace_name = "Prod"; }, "--namespace 'Prod'"},
      {[](auto& o) { o.postgres_version = "16"; }, "--postgres-version '16' is not supported"},
      {[](auto& o) { o.postgres_version = "15.4"; }, "PostgreSQL 15 only"},
      {[](auto& o) { o.replicas = 0; }, "--replicas 0"},
      {[](auto& o) { o.storage = "1GB"; }, "--storage '1GB'"},
      {[](auto& o) { o.storage = "0Gi"; }, "--storage '0Gi'"},
      {[](auto& o) { o.storage_class = "Fast SSD"; }, "--storage-class"},
      {[](auto& o) { o.image = "pgpilot 0.1"; }, "--image"},
      {[](auto& o) { o.superuser_secret = "Admin!"; }, "--superuser-secret 'Admin!'"},
      {[](auto& o) { o.superuser_secret = o.replication_secret = "pw"; }, "both name 'pw'"},
      {[](auto& o) { o.allowed_networks = {"10.0.0.0/33"}; }, "'10.0.0.0/33' is not a network"},
      {[](auto& o) { o.allowed_networks = {"everywhere"}; }, "'everywhere' is not a network"},
      {[](auto& o) { o.allowed_networks = {}; }, "--allowed-networks is empty"},
      {[](auto& o) { o.ttl_seconds = 1; }, "--ttl 1 is out of range"},
      {[](auto& o) { o.ttl_seconds = 7200; }, "--ttl 7200 is out of range"},
  };
  for (const auto& c : cases) {
    K8sRenderOptions o = Options();
    c.change(o);
    auto text = RenderKubernetesManifests(o);
    ASSERT_FALSE(text.ok()) << c.message;
    EXPECT_EQ(text.error().code, ErrorCode::kInvalidArgument) << c.message;
    EXPECT_THAT(text.error().message, HasSubstr(c.message));
    EXPECT_FALSE(text.error().hint.empty()) << c.message << ": no hint how to fix it";
  }
  // The limits themselves are accepted.
  EXPECT_TRUE(RenderKubernetesManifests(Options(std::string(40, 'a'))).ok());
  EXPECT_TRUE(RenderKubernetesManifests(Options("a")).ok());
}

// RunCommandLine's exit code and what it printed.
struct CommandOutcome {
  int code;
  std::string out, err;
};

CommandOutcome RunPgpilot(std::vector<std::string> args) {
  args.insert(args.begin(), "pgpilot");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  ::testing::internal::CaptureStdout();
  ::testing::internal::CaptureStderr();
  int code = RunCommandLine(static_cast<int>(argv.size()), argv.data());
  std::string out = ::testing::internal::GetCapturedStdout();
  std::string err = ::testing::internal::GetCapturedStderr();
  return {code, out, err};
}

TEST(K8sRenderInput, CommandLineExitsWith2OnBadInput) {
  auto ok = RunPgpilot({"k8s", "render", "--name", "demo", "--allowed-networks", "10.1.0.0/16,10.2.0.0/16"});
  EXPECT_EQ(ok.code, 0) << ok.err;
  EXPECT_THAT(ok.out, HasSubstr("kind: StatefulSet"));
  EXPECT_THAT(ok.out, HasSubstr("allowed_networks: [10.1.0.0/16, 10.2.0.0/16]"));
  EXPECT_TRUE(ok.err.empty()) << ok.err;

  auto bad_name = RunPgpilot({"k8s", "render", "--name", "Demo"});
  EXPECT_EQ(bad_name.code, 2);
  EXPECT_THAT(bad_name.err, HasSubstr("--name 'Demo' is not a valid DNS label"));
  EXPECT_TRUE(bad_name.out.empty());

  auto bad_version = RunPgpilot({"k8s", "render", "--name", "demo", "--postgres-version", "16"});
  EXPECT_EQ(bad_version.code, 2);
  EXPECT_THAT(bad_version.err, HasSubstr("use --postgres-version 15"));

  EXPECT_EQ(RunPgpilot({"k8s", "render"}).code, 2);  // --name missing
  EXPECT_EQ(RunPgpilot({"k8s", "render", "--name", "demo", "--replicas", "three"}).code, 2);
  EXPECT_EQ(RunPgpilot({"k8s", "render", "--name", "demo", "--bogus"}).code, 2);
  auto help = RunPgpilot({"k8s", "render", "--help"});
  EXPECT_EQ(help.code, 0);
  EXPECT_THAT(help.out, HasSubstr("--superuser-secret"));
}

}  // namespace
}  // namespace pgpilot
