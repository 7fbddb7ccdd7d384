#include "store/open_store.h"

#include <cstdlib>

#include "platform/files.h"
#include "platform/users.h"
#include "store/sqlite_store.h"

namespace pgpilot {
namespace {

// $KUBECONFIG (its first file), else ~/.kube/config when it exists, else "" (in-cluster).
std::string DefaultKubeconfig() {
  if (const char* env = std::getenv("KUBECONFIG"); env != nullptr && *env != '\0') {
    std::string list = env;
    return list.substr(0, list.find(':'));
  }
  const char* home = std::getenv("HOME");
  if (home != nullptr && PathExists(JoinPath(home, ".kube/config"))) return JoinPath(home, ".kube/config");
  return "";
}

}  // namespace

Result<StoreConfig> ParseStoreUrl(const std::string& url) {
  StoreConfig c;
  const std::string etcd_scheme = "etcd://";
  if (url.rfind(etcd_scheme, 0) == 0) {
    std::string rest = url.substr(etcd_scheme.size());
    size_t start = 0;
    while (start <= rest.size()) {
      size_t comma = rest.find(',', start);
      std::string endpoint = rest.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
      if (!endpoint.empty()) c.etcd.endpoints.push_back(endpoint);
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
    if (c.etcd.endpoints.empty()) {
      return InvalidArgument("store address '" + url + "' names no etcd endpoint",
                             "use etcd://HOST:PORT[,HOST:PORT...]");
    }
    return c;
  }
  const std::string k8s_scheme = "kubernetes://";
  if (url.rfind(k8s_scheme, 0) == 0 || url == "kubernetes:") {
    c.kubernetes.enabled = true;
    c.kubernetes.namespace_name = url == "kubernetes:" ? "" : url.substr(k8s_scheme.size());
    c.kubernetes.kubeconfig = DefaultKubeconfig();
    return c;
  }
  const std::string scheme = "sqlite:";
  if (url.rfind(scheme, 0) == 0) {
    std::string path = url.substr(scheme.size());
    if (path.rfind("//", 0) == 0) path = path.substr(2);
    c.sqlite_path = path;
  } else if (url.size() > 3 && url.substr(url.size() - 3) == ".db") {
    c.sqlite_path = url;
  }
  if (c.sqlite_path.empty() || c.sqlite_path.front() != '/') {
    return InvalidArgument("store address '" + url + "' is not understood",
                           "use sqlite:/absolute/path/to/store.db, etcd://HOST:PORT[,HOST:PORT...] "
                           "or kubernetes://NAMESPACE");
  }
  return c;
}

Result<std::unique_ptr<Store>> OpenStore(const StoreConfig& config, const std::string& cluster,
                                         const Clock& clock) {
  if (config.is_kubernetes()) {
    auto k8s = KubernetesStore::Open(config.kubernetes, cluster, clock);
    if (!k8s.ok()) return k8s.error();
    return std::unique_ptr<Store>(std::move(k8s.value()));
  }
  if (config.is_etcd()) {
    auto etcd = EtcdStore::Open(config.etcd, cluster, clock);
    if (!etcd.ok()) return etcd.error();
    return std::unique_ptr<Store>(std::move(etcd.value()));
  }
  auto store = SqliteStore::Open(config.sqlite_path, cluster, clock);
  if (!store.ok()) return store.error();
  return std::unique_ptr<Store>(std::move(store.value()));
}

Status BecomeStoreOwner(const StoreConfig& config) {
  if (!RunningAsRoot() || config.is_etcd() || config.is_kubernetes()) return Status::Ok();
  auto owner = OwnerOf(config.sqlite_path);
  if (!owner.ok()) {
    return NotFound("store file " + config.sqlite_path + " does not exist",
                    "start the cluster first (pgpilot up or pgpilot agent)");
  }
  if (*owner == 0) return Status::Ok();
  auto user = LookupUserById(*owner);
  if (!user.ok()) return user.error();
  return BecomeUser(*user);
}

}  // namespace pgpilot
