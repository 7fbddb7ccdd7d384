#include "store/open_store.h"

#include "platform/files.h"
#include "platform/users.h"
#include "store/sqlite_store.h"

namespace pgpilot {

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
                           "use sqlite:/absolute/path/to/store.db or etcd://HOST:PORT[,HOST:PORT...]");
  }
  return c;
}

Result<std::unique_ptr<Store>> OpenStore(const StoreConfig& config, const std::string& cluster,
                                         const Clock& clock) {
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
  if (!RunningAsRoot() || config.is_etcd()) return Status::Ok();
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
