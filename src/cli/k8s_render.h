// `pgpilot k8s render`: every Kubernetes object a pgpilot cluster needs as a StatefulSet, as YAML.
#pragma once

#include <string>
#include <vector>

#include "core/result.h"

namespace pgpilot {

struct K8sRenderOptions {
  std::string name;                       // the cluster: a DNS label of at most 40 characters
  std::string namespace_name = "default";
  int replicas = 3;
  std::string storage = "1Gi";            // each member's volume (a Kubernetes quantity)
  std::string storage_class;              // empty: the cluster's default StorageClass
  std::string image = "pgpilot:0.1.0";
  std::string postgres_version = "15";
  // Existing Secrets (key `password`) to use instead of rendering new ones with random passwords.
  std::string superuser_secret;
  std::string replication_secret;
  // An existing Secret of type kubernetes.io/tls (tls.crt, tls.key, ca.crt, as cert-manager writes
  // it): TLS between members with mode verify-ca. Empty: no TLS.
  std::string pg_tls_secret;
  std::vector<std::string> allowed_networks = {"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"};
  double ttl_seconds = 10;
};

// Where the rendered pods keep things; the agent config embedded in the ConfigMap points here.
inline constexpr const char* kK8sVolumeMount = "/var/lib/pgpilot";
inline constexpr const char* kK8sAgentConfigPath = "/etc/pgpilot/agent.yaml";
inline constexpr const char* kK8sSuperuserSecretDir = "/etc/pgpilot/superuser";
inline constexpr const char* kK8sReplicationSecretDir = "/etc/pgpilot/replication";
inline constexpr const char* kK8sPgTlsDir = "/etc/pgpilot/tls";
inline constexpr const char* kK8sSupportedPostgresVersion = "15";
inline constexpr size_t kK8sMaxNameLength = 40;

// The YAML documents (separated by `---`) for `kubectl apply -f -`, or an InvalidArgument error
// naming the bad option and the fix. Secrets rendered here hold fresh random passwords.
Result<std::string> RenderKubernetesManifests(const K8sRenderOptions& options);

}  // namespace pgpilot
