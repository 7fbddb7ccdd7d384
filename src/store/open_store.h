// Selecting and opening a store backend from configuration or a URL.
#pragma once

#include <memory>
#include <string>

#include "core/result.h"
#include "platform/clock.h"
#include "store/etcd_store.h"
#include "store/k8s_store.h"
#include "store/store.h"

namespace pgpilot {

struct StoreConfig {
  std::string sqlite_path;  // the embedded store's file; empty when etcd is used
  EtcdConfig etcd;          // etcd's endpoints (and credentials); used when sqlite_path is empty
  KubernetesConfig kubernetes;  // used when enabled
  bool is_etcd() const { return sqlite_path.empty() && !etcd.endpoints.empty(); }
  bool is_kubernetes() const { return kubernetes.enabled; }
};

// "sqlite:/path/store.db", "sqlite:///path/store.db", a path ending in ".db",
// "etcd://HOST:PORT[,HOST:PORT...]" (etcd credentials come from the agent config only), or
// "kubernetes://NAMESPACE" (the API server and credentials from $KUBECONFIG, ~/.kube/config, or
// the pod's service account).
Result<StoreConfig> ParseStoreUrl(const std::string& url);
Result<std::unique_ptr<Store>> OpenStore(const StoreConfig& config, const std::string& cluster,
                                         const Clock& clock);
// When running as root, become the owner of the store's file so files the store creates
// (SQLite's -wal and -shm) keep the agents' ownership. Nothing otherwise.
Status BecomeStoreOwner(const StoreConfig& config);

}  // namespace pgpilot
