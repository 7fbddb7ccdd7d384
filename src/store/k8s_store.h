// The Kubernetes store: the leader lease is a coordination.k8s.io/v1 Lease taken and renewed by
// resourceVersion compare-and-swap (expiry judged by observers on their own monotonic clocks, as
// for the embedded store); initialize, history, sync, the config, the operators' requests and a
// switchover request live in one ConfigMap, member entries in another; each agent keeps its own
// pod's role label true so Services route to the primary.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "core/result.h"
#include "platform/clock.h"
#include "store/store.h"

namespace pgpilot {

struct KubernetesConfig {
  bool enabled = false;
  // Where the API server is and who we are. Empty fields take the in-cluster defaults: the
  // KUBERNETES_SERVICE_HOST/PORT environment and the service account's token, CA and namespace
  // under /var/run/secrets/kubernetes.io/serviceaccount/. With `kubeconfig`, its current
  // context supplies what is not set here (for `ctl` outside the cluster).
  std::string api_server;   // "https://10.96.0.1:443" or "http://127.0.0.1:8080" (tests)
  std::string namespace_name;
  std::string token_file;
  std::string ca_file;
  std::string kubeconfig;
  // Patch the role label of the pod named like this member (true for agents in a pod).
  bool label_pod = true;
  Duration request_timeout{2000};
};

class KubernetesClient;  // HTTP plumbing (k8s_client.h)

class KubernetesStore final : public Store {
 public:
  // Resolves the API server, credentials and namespace; does not contact the server.
  static Result<std::unique_ptr<KubernetesStore>> Open(const KubernetesConfig& config,
                                                       const std::string& cluster,
                                                       const Clock& clock);
  ~KubernetesStore() override;

  Result<ClusterView> Load() override;
  Result<bool> ClaimInitialize(const std::string& member, const std::string& system_id) override;
  Result<bool> CompleteInitialize(const std::string& member, const std::string& system_id) override;
  Result<bool> AbandonInitialize(const std::string& member) override;
  Result<LeaseWrite> AcquireLeader(const LeaseRequest& request,
                                   std::optional<uint64_t> expected_revision) override;
  Result<LeaseWrite> RenewLeader(const LeaseRequest& request, uint64_t term) override;
  Result<bool> ReleaseLeader(const LeaseRequest& request, uint64_t term) override;
  Status PutMember(const MemberStatus& status, Duration ttl) override;
  Status DeleteMember(const std::string& name) override;
  Status AppendHistory(const HistoryEntry& entry) override;
  Result<bool> WriteSync(const SyncRecord& record, std::optional<uint64_t> expected_revision) override;
  Result<bool> WriteConfig(const DynamicConfig& config, std::optional<uint64_t> expected_revision) override;
  Result<bool> WriteRequests(const RequestsRecord& record,
                             std::optional<uint64_t> expected_revision) override;
  Result<bool> RequestSwitchover(const SwitchoverRecord& record) override;
  Status ClearSwitchover() override;
  Result<uint64_t> WaitForChange(uint64_t since, Duration timeout) override;
  std::string Describe() const override;
  void SetCallDeadline(std::optional<MonoTime> deadline) override;

 private:
  KubernetesStore(std::unique_ptr<KubernetesClient> client, std::string cluster,
                  KubernetesConfig config, const Clock& clock);

  std::unique_ptr<KubernetesClient> client_;
  std::string cluster_;
  KubernetesConfig config_;
  const Clock& clock_;
  std::mutex mu_;                         // one request sequence at a time; guards below
  std::string labelled_role_;             // the role label we last set on our pod
  // WaitForChange polls; a digest of what matters to Decide tells whether anything changed.
  std::string last_digest_;
  uint64_t events_ = 1;
  std::chrono::steady_clock::time_point last_poll_;
  bool poll_failed_ = false;
};

}  // namespace pgpilot
