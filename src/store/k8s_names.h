// Kubernetes wire names, defined once: the objects the Kubernetes store keeps per cluster, the
// labels and annotations it reads and writes, and the API paths it calls.
#pragma once

#include <string>
#include <string_view>

namespace pgpilot::k8s {

// Labels every object of a cluster carries, and the role label the agent keeps true on its pod
// (Services select role=primary and role=replica).
inline constexpr std::string_view kClusterLabel = "pgpilot.io/cluster";
inline constexpr std::string_view kRoleLabel = "pgpilot.io/role";
inline constexpr std::string_view kRolePrimary = "primary";
inline constexpr std::string_view kRoleReplica = "replica";
inline constexpr std::string_view kRoleNone = "none";  // stopped, starting, cloning, ...

// The leader Lease keeps the standard spec (holderIdentity, leaseDurationSeconds, acquireTime,
// renewTime, leaseTransitions) for kubectl and other tools; pgpilot's whole record (term, WAL
// position, timeline, released) rides in one annotation, the store's JSON encoding.
inline constexpr std::string_view kLeaderAnnotation = "pgpilot.io/leader";

// Data keys of the cluster ConfigMap (the member ConfigMap has one key per member name).
inline constexpr std::string_view kInitializeKey = "initialize";
inline constexpr std::string_view kHistoryKey = "history";
inline constexpr std::string_view kSyncKey = "sync";
// The sync record's revision: a decimal counter bumped by every sync write. Not the ConfigMap's
// resourceVersion, which writes of the other keys change too.
inline constexpr std::string_view kSyncRevisionKey = "sync-revision";
// A pending switchover request (absent when none).
inline constexpr std::string_view kSwitchoverKey = "switchover";
// The dynamic config, and its revision: a counter like the sync record's.
inline constexpr std::string_view kConfigKey = "config";
inline constexpr std::string_view kConfigRevisionKey = "config-revision";
// The operators' requests to members, and their revision: a counter like the sync record's.
inline constexpr std::string_view kRequestsKey = "requests";
inline constexpr std::string_view kRequestsRevisionKey = "requests-revision";

// Object names: NAME-leader (Lease), NAME-cluster and NAME-members (ConfigMaps).
inline std::string LeaseName(std::string_view cluster) { return std::string(cluster) + "-leader"; }
inline std::string ClusterConfigMapName(std::string_view cluster) {
  return std::string(cluster) + "-cluster";
}
inline std::string MembersConfigMapName(std::string_view cluster) {
  return std::string(cluster) + "-members";
}

// Paths of the API the store calls, relative to the server URL.
inline std::string LeasesPath(std::string_view ns) {
  return "/apis/coordination.k8s.io/v1/namespaces/" + std::string(ns) + "/leases";
}
inline std::string ConfigMapsPath(std::string_view ns) {
  return "/api/v1/namespaces/" + std::string(ns) + "/configmaps";
}
inline std::string PodsPath(std::string_view ns) {
  return "/api/v1/namespaces/" + std::string(ns) + "/pods";
}

// In-cluster defaults: the service account's files, and the environment the kubelet sets.
inline constexpr std::string_view kServiceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount";
inline constexpr std::string_view kServiceHostEnv = "KUBERNETES_SERVICE_HOST";
inline constexpr std::string_view kServicePortEnv = "KUBERNETES_SERVICE_PORT";

}  // namespace pgpilot::k8s
