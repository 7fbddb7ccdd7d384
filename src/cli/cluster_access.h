// How `pgpilot ctl` reaches a cluster: through its store (--dir, --config, --store), or through
// one agent's API (--api URL, with the API's credentials and CA). Both read the cluster and carry
// out the same operations (agent/operations.h; the API runs them in the agent), so every ctl
// command has one body for either way.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "agent/operations.h"
#include "api/api_client.h"
#include "core/cluster_view.h"
#include "core/result.h"
#include "platform/clock.h"
#include "store/open_store.h"

namespace pgpilot {

class ClusterAccess {
 public:
  virtual ~ClusterAccess() = default;

  // The cluster now: read from the store, or as the agent last read it (up to a loop old).
  virtual Result<ClusterView> Load() = 0;
  // The cluster's name (over the API: known after the first Load).
  virtual std::string ClusterName() const = 0;
  // "store sqlite:/..." or "API https://...": for messages.
  virtual std::string Describe() const = 0;
  // True when Load reads the store itself, so it sees our own writes at once; false over the API,
  // whose answer is the agent's last view and may predate what we just asked for.
  virtual bool ReadsOwnWrites() const = 0;

  virtual Result<SwitchoverRecord> Switchover(const SwitchoverParams& params) = 0;
  virtual Result<std::optional<SwitchoverRecord>> CancelSwitchover() = 0;
  virtual Result<SwitchoverRecord> Failover(const std::string& to, bool force) = 0;
  virtual Result<std::vector<SentRequest>> Restart(const std::string& member, bool pending) = 0;
  virtual Result<SentRequest> Reinit(const std::string& member) = 0;
  // Removes a refused request once reported (the store only; over the API it stays, marked
  // refused, until a new request replaces it).
  virtual void DropRefused(const std::string& member) = 0;
  virtual Result<DynamicConfig> ChangeSettings(const std::vector<std::pair<std::string, std::string>>& settings) = 0;
  virtual Result<DynamicConfig> SetPause(bool pause) = 0;
  // A read-modify-write of the whole config (an editor session): the store only.
  virtual Result<DynamicConfig> EditConfig(const std::function<Status(DynamicConfig*)>& change) = 0;
};

// Through the store (ctl becomes the store file's owner first when run as root).
Result<std::unique_ptr<ClusterAccess>> OpenStoreAccess(const StoreConfig& store, const std::string& cluster);
// Through the agent at `url` (http:// or https://).
std::unique_ptr<ClusterAccess> OpenApiAccess(const std::string& url, const ApiClientOptions& options);

}  // namespace pgpilot
