#include "cli/k8s_render.h"

#include <arpa/inet.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>

#include "agent/config.h"
#include "cli/local_cluster.h"
#include "core/defaults.h"
#include "store/k8s_names.h"

namespace pgpilot {
namespace {

using Json = nlohmann::ordered_json;  // keeps keys in the order written, for readable output

constexpr int kPostgresPort = 5432;
constexpr int kApiPort = 8008;
constexpr int kPostgresUid = 999;  // the image's `postgres` user and group (see Dockerfile)
constexpr const char* kContainerName = "pgpilot";
constexpr const char* kBinary = "/usr/local/bin/pgpilot";
constexpr const char* kAgentConfigKey = "agent.yaml";
constexpr const char* kPasswordKey = "password";
constexpr const char* kDataVolume = "data";
constexpr const char* kTlsVolume = "pg-tls";
// The keys of a kubernetes.io/tls Secret (ca.crt as cert-manager adds it).
constexpr const char* kTlsCertKey = "tls.crt";
constexpr const char* kTlsKeyKey = "tls.key";
constexpr const char* kTlsCaKey = "ca.crt";

// The names of the objects rendered for cluster NAME (the store's own objects, the Lease and the
// two ConfigMaps, are named in store/k8s_names.h).
struct Names {
  std::string cluster;
  std::string Headless() const { return cluster; }
  std::string Primary() const { return cluster + "-primary"; }
  std::string Replicas() const { return cluster + "-replicas"; }
  std::string Config() const { return cluster + "-config"; }
  std::string SuperuserSecret() const { return cluster + "-superuser"; }
  std::string ReplicationSecret() const { return cluster + "-replication"; }
  std::string ServiceAccount() const { return cluster; }
};

// ---- input checks ------------------------------------------------------------------------------

bool IsDnsLabel(const std::string& s, bool must_start_with_letter) {
  static const std::regex kLabel("[a-z0-9]([-a-z0-9]*[a-z0-9])?");
  if (s.empty() || s.size() > 63 || !std::regex_match(s, kLabel)) return false;
  return !must_start_with_letter || std::islower(static_cast<unsigned char>(s[0]));
}

bool IsDnsSubdomain(const std::string& s) {
  if (s.empty() || s.size() > 253) return false;
  size_t start = 0;
  while (true) {
    size_t dot = s.find('.', start);
    if (!IsDnsLabel(s.substr(start, dot == std::string::npos ? std::string::npos : dot - start), false)) {
      return false;
    }
    if (dot == std::string::npos) return true;
    start = dot + 1;
  }
}

bool IsCidr(const std::string& text) {
  size_t slash = text.find('/');
  if (slash == std::string::npos || slash + 1 >= text.size()) return false;
  std::string address = text.substr(0, slash), bits = text.substr(slash + 1);
  if (!std::all_of(bits.begin(), bits.end(), [](char c) { return c >= '0' && c <= '9'; }) ||
      bits.size() > 3) {
    return false;
  }
  int prefix = std::stoi(bits);
  unsigned char buf[16];
  if (inet_pton(AF_INET, address.c_str(), buf) == 1) return prefix <= 32;
  if (inet_pton(AF_INET6, address.c_str(), buf) == 1) return prefix <= 128;
  return false;
}

std::string Trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t");
  if (b == std::string::npos) return "";
  size_t e = s.find_last_not_of(" \t");
  return s.substr(b, e - b + 1);
}

Status CheckName(const std::string& name) {
  if (name.empty()) {
    return InvalidArgument("--name is required", "name the cluster, e.g. --name orders");
  }
  if (name.size() > kK8sMaxNameLength) {
    return InvalidArgument(
        "--name '" + name + "' is " + std::to_string(name.size()) + " characters long; at most " +
            std::to_string(kK8sMaxNameLength) +
            " are allowed so the derived names (NAME-replicas, NAME-replication, data-NAME-N) "
            "stay valid Kubernetes names",
        "choose a shorter name");
  }
  if (!IsDnsLabel(name, /*must_start_with_letter=*/true)) {
    return InvalidArgument("--name '" + name +
                               "' is not a valid DNS label: Service and pod names need lowercase "
                               "letters, digits and '-', starting with a letter and ending with a "
                               "letter or digit",
                           "choose a name like 'orders' or 'pg-main'");
  }
  return Status::Ok();
}

Status CheckSecretName(const std::string& option, const std::string& value) {
  if (value.empty() || IsDnsSubdomain(value)) return Status::Ok();
  return InvalidArgument(option + " '" + value + "' is not a valid Secret name",
                         "give the name of an existing Secret in the namespace (lowercase letters, "
                         "digits, '-' and '.'), holding the password under the key 'password'");
}

Status CheckOptions(const K8sRenderOptions& o, std::vector<std::string>* networks) {
  if (Status s = CheckName(o.name); !s.ok()) return s;
  if (!IsDnsLabel(o.namespace_name, false)) {
    return InvalidArgument("--namespace '" + o.namespace_name + "' is not a valid namespace name",
                           "use lowercase letters, digits and '-' (at most 63), e.g. --namespace databases");
  }
  if (o.replicas < 1) {
    return InvalidArgument("--replicas " + std::to_string(o.replicas) + " is not a number of pods",
                           "use 1 or more (3 gives automatic failover with one spare)");
  }
  static const std::regex kQuantity("([0-9]+(\\.[0-9]+)?)(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?");
  std::smatch m;
  if (!std::regex_match(o.storage, m, kQuantity) || std::stod(m[1].str()) <= 0) {
    return InvalidArgument("--storage '" + o.storage + "' is not a Kubernetes storage quantity",
                           "write a size such as 1Gi, 500Mi or 20Gi");
  }
  if (!o.storage_class.empty() && !IsDnsSubdomain(o.storage_class)) {
    return InvalidArgument("--storage-class '" + o.storage_class + "' is not a valid StorageClass name",
                           "list the classes with `kubectl get storageclass`");
  }
  if (o.image.empty() ||
      std::any_of(o.image.begin(), o.image.end(), [](unsigned char c) { return std::isspace(c) || std::iscntrl(c); })) {
    return InvalidArgument("--image '" + o.image + "' is not an image reference",
                           "give a reference like pgpilot:0.1.0 or registry.example.com/pgpilot:0.1.0");
  }
  if (o.postgres_version != kK8sSupportedPostgresVersion) {
    return InvalidArgument("--postgres-version '" + o.postgres_version +
                               "' is not supported: the image ships PostgreSQL " +
                               kK8sSupportedPostgresVersion + " only",
                           std::string("use --postgres-version ") + kK8sSupportedPostgresVersion +
                               " (the default)");
  }
  if (Status s = CheckSecretName("--superuser-secret", o.superuser_secret); !s.ok()) return s;
  if (Status s = CheckSecretName("--replication-secret", o.replication_secret); !s.ok()) return s;
  if (!o.pg_tls_secret.empty() && !IsDnsSubdomain(o.pg_tls_secret)) {
    return InvalidArgument("--pg-tls-secret '" + o.pg_tls_secret + "' is not a valid Secret name",
                           "give the name of an existing kubernetes.io/tls Secret in the namespace, "
                           "holding tls.crt, tls.key and ca.crt (as cert-manager writes them)");
  }
  if (!o.superuser_secret.empty() && o.superuser_secret == o.replication_secret) {
    return InvalidArgument("--superuser-secret and --replication-secret both name '" +
                               o.superuser_secret + "'",
                           "the two users need different passwords: give two Secrets");
  }
  networks->clear();
  for (const auto& raw : o.allowed_networks) {
    std::string n = Trim(raw);
    if (n.empty()) continue;
    if (!IsCidr(n)) {
      return InvalidArgument("--allowed-networks: '" + n + "' is not a network in CIDR notation",
                             "write ADDRESS/BITS, e.g. 10.0.0.0/8 (the pod network of your cluster)");
    }
    networks->push_back(n);
  }
  if (networks->empty()) {
    return InvalidArgument("--allowed-networks is empty: the members could not reach each other",
                           "give the pod network, e.g. --allowed-networks 10.0.0.0/8");
  }
  const double min_ttl = std::chrono::duration<double>(kMinimumTtl).count();
  const double default_ttl = std::chrono::duration<double>(kDefaultTtl).count();
  if (!(o.ttl_seconds >= min_ttl && o.ttl_seconds <= 3600)) {  // also refuses NaN
    std::ostringstream text;
    text << "--ttl " << o.ttl_seconds << " is out of range";
    std::ostringstream hint;
    hint << "give the leader lease's lifetime in seconds, from " << min_ttl << " to 3600 (default "
         << default_ttl << ")";
    return InvalidArgument(text.str(), hint.str());
  }
  return Status::Ok();
}

// ---- the agent config --------------------------------------------------------------------------

std::string AgentConfigYaml(const K8sRenderOptions& o, const std::vector<std::string>& networks) {
  const std::string mount = kK8sVolumeMount;
  AgentConfig c;
  c.cluster = o.name;
  c.name = "${POD_NAME}";  // the agent expands ${VAR} from its environment (set by the pod spec)
  c.data_dir = mount + "/pgdata";  // not the mount itself: it holds lost+found on many volumes
  c.state_dir = mount + "/state";
  c.ttl = Duration(static_cast<int64_t>(std::llround(o.ttl_seconds * 1000)));
  c.loop_wait = kDefaultLoopWait;
  c.store.kubernetes.enabled = true;
  c.store.kubernetes.namespace_name = "${POD_NAMESPACE}";
  c.api_listen = {"0.0.0.0", kApiPort};
  c.api_connect = {"${POD_IP}", kApiPort};
  c.bin_dir = "/usr/lib/postgresql/" + o.postgres_version + "/bin";
  c.pg_listen = "*";
  c.pg_port = kPostgresPort;
  c.pg_connect_host = "${POD_IP}";
  c.allowed_networks = networks;
  c.superuser = "postgres";
  c.superuser_password_file = std::string(kK8sSuperuserSecretDir) + "/" + kPasswordKey;
  c.replication_user = "replicator";
  c.replication_password_file = std::string(kK8sReplicationSecretDir) + "/" + kPasswordKey;
  if (!o.pg_tls_secret.empty()) {
    // verify-ca, not verify-full: members reach each other at pod IPs, which a certificate
    // issued before the pods exist cannot name.
    const std::string dir = kK8sPgTlsDir;
    c.pg_tls = PgTls{PgTlsMode::kVerifyCa, dir + "/" + kTlsCertKey, dir + "/" + kTlsKeyKey, dir + "/" + kTlsCaKey};
  }
  c.log_format = LogFormat::kJson;
  return RenderAgentConfig(c);
}

// ---- objects -----------------------------------------------------------------------------------

Json Labels(const std::string& cluster) {
  return Json{{"app.kubernetes.io/name", "pgpilot"},
              {"app.kubernetes.io/instance", cluster},
              {std::string(k8s::kClusterLabel), cluster}};
}

Json ClusterSelector(const std::string& cluster) {
  return Json{{std::string(k8s::kClusterLabel), cluster}};
}

Json RoleSelector(const std::string& cluster, std::string_view role) {
  Json s = ClusterSelector(cluster);
  s[std::string(k8s::kRoleLabel)] = std::string(role);
  return s;
}

Json Metadata(const std::string& name, const K8sRenderOptions& o) {
  return Json{{"name", name}, {"namespace", o.namespace_name}, {"labels", Labels(o.name)}};
}

Json Object(const char* api_version, const char* kind, const std::string& name,
            const K8sRenderOptions& o) {
  return Json{{"apiVersion", api_version}, {"kind", kind}, {"metadata", Metadata(name, o)}};
}

Json Strings(std::initializer_list<std::string> items) {
  Json a = Json::array();
  for (const auto& s : items) a.push_back(s);
  return a;
}

Json SecretObject(const std::string& name, const std::string& password, const K8sRenderOptions& o) {
  Json s = Object("v1", "Secret", name, o);
  s["type"] = "Opaque";
  s["stringData"] = Json{{kPasswordKey, password}};
  return s;
}

Json ConfigMapObject(const Names& n, const std::string& agent_yaml, const K8sRenderOptions& o) {
  Json c = Object("v1", "ConfigMap", n.Config(), o);
  c["data"] = Json{{kAgentConfigKey, agent_yaml}};
  return c;
}

Json RoleObject(const Names& n, const K8sRenderOptions& o) {
  auto rule = [](const char* group, const char* resource, Json resource_names, Json verbs) {
    Json r{{"apiGroups", Strings({group})}, {"resources", Strings({resource})}};
    if (!resource_names.empty()) r["resourceNames"] = std::move(resource_names);
    r["verbs"] = std::move(verbs);
    return r;
  };
  Json role = Object("rbac.authorization.k8s.io/v1", "Role", n.cluster, o);
  role["rules"] = Json::array({
      // Creating cannot be limited by name (the name is not known to RBAC before it exists).
      rule("coordination.k8s.io", "leases", Json::array(), Strings({"create"})),
      rule("coordination.k8s.io", "leases", Strings({k8s::LeaseName(n.cluster)}),
           Strings({"get", "update"})),
      rule("", "configmaps", Json::array(), Strings({"create"})),
      rule("", "configmaps",
           Strings({k8s::ClusterConfigMapName(n.cluster), k8s::MembersConfigMapName(n.cluster)}),
           Strings({"get", "update", "patch"})),
      // Each agent merge-patches its own pod's role label; the primary lists the pods labelled
      // primary to take the label off a crashed former primary.
      rule("", "pods", Json::array(), Strings({"get", "list", "patch"})),
  });
  return role;
}

Json RoleBindingObject(const Names& n, const K8sRenderOptions& o) {
  Json b = Object("rbac.authorization.k8s.io/v1", "RoleBinding", n.cluster, o);
  b["subjects"] = Json::array({Json{{"kind", "ServiceAccount"},
                                    {"name", n.ServiceAccount()},
                                    {"namespace", o.namespace_name}}});
  b["roleRef"] = Json{{"apiGroup", "rbac.authorization.k8s.io"}, {"kind", "Role"}, {"name", n.cluster}};
  return b;
}

Json ServicePort(const char* name, int port) {
  return Json{{"name", name}, {"port", port}, {"targetPort", port}, {"protocol", "TCP"}};
}

Json HeadlessServiceObject(const Names& n, const K8sRenderOptions& o) {
  Json s = Object("v1", "Service", n.Headless(), o);
  s["spec"] = Json{{"clusterIP", "None"},
                   // Members find each other (and clone) before any of them is ready.
                   {"publishNotReadyAddresses", true},
                   {"selector", ClusterSelector(o.name)},
                   {"ports", Json::array({ServicePort("postgresql", kPostgresPort),
                                          ServicePort("api", kApiPort)})}};
  return s;
}

Json RoleServiceObject(const std::string& name, std::string_view role, const K8sRenderOptions& o) {
  Json s = Object("v1", "Service", name, o);
  s["spec"] = Json{{"type", "ClusterIP"},
                   {"selector", RoleSelector(o.name, role)},
                   {"ports", Json::array({ServicePort("postgresql", kPostgresPort)})}};
  return s;
}

Json EnvFromField(const char* name, const char* field) {
  return Json{{"name", name}, {"valueFrom", Json{{"fieldRef", Json{{"fieldPath", field}}}}}};
}

Json HttpProbe(const char* path) {
  return Json{{"httpGet", Json{{"path", path}, {"port", kApiPort}, {"scheme", "HTTP"}}}};
}

Json SecretVolume(const char* volume, const std::string& secret,
                  std::initializer_list<const char*> keys = {kPasswordKey}) {
  Json items = Json::array();
  for (const char* key : keys) items.push_back(Json{{"key", key}, {"path", key}});
  return Json{{"name", volume},
              {"secret",
               Json{{"secretName", secret},
                    {"items", items},
                    // 0440: kubelet makes the files root's with group fsGroup; the agent reads
                    // them through that group (and PostgreSQL accepts a key so owned).
                    {"defaultMode", 0440}}}};
}

Json StatefulSetObject(const Names& n, const K8sRenderOptions& o, const std::string& superuser_secret,
                       const std::string& replication_secret) {
  Json container{
      {"name", kContainerName},
      {"image", o.image},
      {"imagePullPolicy", "IfNotPresent"},
      {"command", Strings({kBinary, "agent", "--config", kK8sAgentConfigPath})},
      {"ports", Json::array({Json{{"name", "postgresql"}, {"containerPort", kPostgresPort}, {"protocol", "TCP"}},
                             Json{{"name", "api"}, {"containerPort", kApiPort}, {"protocol", "TCP"}}})},
      {"env", Json::array({EnvFromField("POD_NAME", "metadata.name"),
                           EnvFromField("POD_NAMESPACE", "metadata.namespace"),
                           EnvFromField("POD_IP", "status.podIP")})},
      {"resources", Json{{"requests", Json{{"cpu", "100m"}, {"memory", "256Mi"}}}}},
  };
  // Ready: the leader primary or a running replica. Not ready pods stay out of the -primary and
  // -replicas Services even while their role label is stale.
  Json readiness = HttpProbe("/readiness");
  readiness["periodSeconds"] = 5;
  readiness["timeoutSeconds"] = 3;
  readiness["failureThreshold"] = 3;
  container["readinessProbe"] = readiness;
  // Alive: the agent's HA loop runs. It keeps running during a long clone or recovery, so only a
  // stuck agent fails this; a minute of failures before a restart.
  Json liveness = HttpProbe("/liveness");
  liveness["initialDelaySeconds"] = 30;
  liveness["periodSeconds"] = 10;
  liveness["timeoutSeconds"] = 5;
  liveness["failureThreshold"] = 6;
  container["livenessProbe"] = liveness;
  container["securityContext"] = Json{{"allowPrivilegeEscalation", false},
                                      {"capabilities", Json{{"drop", Strings({"ALL"})}}}};
  container["volumeMounts"] = Json::array({
      Json{{"name", kDataVolume}, {"mountPath", kK8sVolumeMount}},
      Json{{"name", "config"}, {"mountPath", kK8sAgentConfigPath}, {"subPath", kAgentConfigKey},
           {"readOnly", true}},
      Json{{"name", "superuser"}, {"mountPath", kK8sSuperuserSecretDir}, {"readOnly", true}},
      Json{{"name", "replication"}, {"mountPath", kK8sReplicationSecretDir}, {"readOnly", true}},
  });
  if (!o.pg_tls_secret.empty()) {
    container["volumeMounts"].push_back(Json{{"name", kTlsVolume}, {"mountPath", kK8sPgTlsDir}, {"readOnly", true}});
  }

  Json pod_spec{
      {"serviceAccountName", n.ServiceAccount()},
      // The agent stops PostgreSQL quickly and releases its lease, so a replica takes over at once.
      {"terminationGracePeriodSeconds", 60},
      {"securityContext",
       Json{{"runAsUser", kPostgresUid},
            {"runAsGroup", kPostgresUid},
            {"fsGroup", kPostgresUid},
            // Only the first mount of an empty volume is chowned: a recursive change would make
            // the data directory group-writable, and PostgreSQL refuses to start on that.
            {"fsGroupChangePolicy", "OnRootMismatch"},
            {"runAsNonRoot", true},
            {"seccompProfile", Json{{"type", "RuntimeDefault"}}}}},
      {"affinity",
       Json{{"podAntiAffinity",
             Json{{"preferredDuringSchedulingIgnoredDuringExecution",
                   Json::array({Json{{"weight", 100},
                                     {"podAffinityTerm",
                                      Json{{"labelSelector", Json{{"matchLabels", ClusterSelector(o.name)}}},
                                           {"topologyKey", "kubernetes.io/hostname"}}}}})}}}}},
      {"containers", Json::array({container})},
      {"volumes",
       Json::array({Json{{"name", "config"},
                         {"configMap", Json{{"name", n.Config()},
                                            {"items", Json::array({Json{{"key", kAgentConfigKey},
                                                                        {"path", kAgentConfigKey}}})}}}},
                    SecretVolume("superuser", superuser_secret),
                    SecretVolume("replication", replication_secret)})},
  };
  if (!o.pg_tls_secret.empty()) {
    pod_spec["volumes"].push_back(SecretVolume(kTlsVolume, o.pg_tls_secret, {kTlsCertKey, kTlsKeyKey, kTlsCaKey}));
  }

  Json claim_spec{{"accessModes", Strings({"ReadWriteOnce"})}};
  if (!o.storage_class.empty()) claim_spec["storageClassName"] = o.storage_class;
  claim_spec["resources"] = Json{{"requests", Json{{"storage", o.storage}}}};

  Json s = Object("apps/v1", "StatefulSet", n.cluster, o);
  s["spec"] = Json{
      {"serviceName", n.Headless()},
      {"replicas", o.replicas},
      // Every pod may start at once: roles come from the store, not from the ordinal.
      {"podManagementPolicy", "Parallel"},
      {"updateStrategy", Json{{"type", "RollingUpdate"}}},
      {"selector", Json{{"matchLabels", ClusterSelector(o.name)}}},
      {"template", Json{{"metadata", Json{{"labels", Labels(o.name)}}}, {"spec", pod_spec}}},
      {"volumeClaimTemplates",
       Json::array({Json{{"metadata", Json{{"name", kDataVolume}, {"labels", Labels(o.name)}}},
                         {"spec", claim_spec}}})},
  };
  return s;
}

Json DisruptionBudgetObject(const Names& n, const K8sRenderOptions& o) {
  Json p = Object("policy/v1", "PodDisruptionBudget", n.cluster, o);
  p["spec"] = Json{{"maxUnavailable", 1}, {"selector", Json{{"matchLabels", ClusterSelector(o.name)}}}};
  return p;
}

// ---- YAML --------------------------------------------------------------------------------------

// Strings a YAML 1.1 reader (kubectl's) would take for a number, a boolean or null get quotes.
bool NeedsQuotes(const std::string& s) {
  if (s.empty()) return true;
  std::string lower = s;
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  static const std::set<std::string> kSpecial = {"y",    "yes",   "n",    "no",    "true",  "false",
                                                 "on",   "off",   "null", "~",     ".inf",  "-.inf",
                                                 "+.inf", ".nan", "<<",   "="};
  if (kSpecial.count(lower) != 0) return true;
  auto digit = [](char c) { return c >= '0' && c <= '9'; };
  if (digit(s[0])) return true;
  return (s[0] == '+' || s[0] == '-' || s[0] == '.') && s.size() > 1 && (digit(s[1]) || s[1] == '.');
}

bool IsScalar(const Json& v) { return !v.is_object() && !v.is_array(); }

void EmitYaml(YAML::Emitter& out, const Json& v, const std::string& key = "") {
  if (v.is_object()) {
    out << YAML::BeginMap;
    for (const auto& [k, child] : v.items()) {
      out << YAML::Key;
      if (NeedsQuotes(k)) out << YAML::DoubleQuoted;
      out << k << YAML::Value;
      EmitYaml(out, child, k);
    }
    out << YAML::EndMap;
  } else if (v.is_array()) {
    bool flow = !v.empty() && std::all_of(v.begin(), v.end(), IsScalar);
    if (flow) out << YAML::Flow;
    out << YAML::BeginSeq;
    for (const auto& child : v) EmitYaml(out, child);
    out << YAML::EndSeq;
  } else if (v.is_string()) {
    const std::string& s = v.get_ref<const std::string&>();
    if (s.find('\n') != std::string::npos) {
      out << YAML::Literal;
    } else if (NeedsQuotes(s)) {
      out << YAML::DoubleQuoted;
    }
    out << s;
  } else if (v.is_boolean()) {
    out << v.get<bool>();
  } else if (v.is_number_integer()) {
    out << v.get<int64_t>();
    if (key == "defaultMode") {  // file modes read better in octal; YAML parsers disagree on 0440
      char octal[16];
      std::snprintf(octal, sizeof octal, "0%o", static_cast<unsigned>(v.get<int64_t>()));
      out << YAML::Comment(std::string("= ") + octal);
    }
  } else if (v.is_number()) {
    out << v.get<double>();
  } else {
    out << YAML::Null;
  }
}

std::string ToYaml(const Json& object) {
  YAML::Emitter out;
  out.SetIndent(2);
  EmitYaml(out, object);
  return std::string(out.c_str()) + "\n";
}

}  // namespace

Result<std::string> RenderKubernetesManifests(const K8sRenderOptions& o) {
  std::vector<std::string> networks;
  if (Status s = CheckOptions(o, &networks); !s.ok()) return s.error();
  const Names n{o.name};

  std::vector<Json> objects;
  std::string superuser_secret = o.superuser_secret, replication_secret = o.replication_secret;
  if (superuser_secret.empty()) {
    auto password = RandomSecret();
    if (!password.ok()) return password.error();
    superuser_secret = n.SuperuserSecret();
    objects.push_back(SecretObject(superuser_secret, *password, o));
  }
  if (replication_secret.empty()) {
    auto password = RandomSecret();
    if (!password.ok()) return password.error();
    replication_secret = n.ReplicationSecret();
    objects.push_back(SecretObject(replication_secret, *password, o));
  }
  objects.push_back(ConfigMapObject(n, AgentConfigYaml(o, networks), o));
  objects.push_back(Object("v1", "ServiceAccount", n.ServiceAccount(), o));
  objects.push_back(RoleObject(n, o));
  objects.push_back(RoleBindingObject(n, o));
  objects.push_back(HeadlessServiceObject(n, o));
  objects.push_back(RoleServiceObject(n.Primary(), k8s::kRolePrimary, o));
  objects.push_back(RoleServiceObject(n.Replicas(), k8s::kRoleReplica, o));
  objects.push_back(StatefulSetObject(n, o, superuser_secret, replication_secret));
  objects.push_back(DisruptionBudgetObject(n, o));

  std::string text =
      "# pgpilot " PGPILOT_VERSION ": cluster " + o.name + " in namespace " + o.namespace_name +
      ".\n# Apply with: kubectl apply -f FILE (keep FILE private: it holds the passwords).\n";
  if (o.superuser_secret.empty() || o.replication_secret.empty()) {
    text += "# The Secrets below hold new random passwords. When re-rendering for a running cluster,\n"
            "# pass --superuser-secret " + n.SuperuserSecret() + " --replication-secret " +
            n.ReplicationSecret() + " so its passwords are kept.\n";
  }
  for (const auto& object : objects) text += "---\n" + ToYaml(object);
  return text;
}

}  // namespace pgpilot
