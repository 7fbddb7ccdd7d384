// The etcd v3 store, spoken over etcd's HTTP/JSON gateway with libcurl: the leader record lives on
// an etcd lease (expired by etcd itself), member entries on their own leases, and a watch on the
// cluster's prefix wakes the HA loop when the leader, initialize, the member set, a switchover
// request, the config or the operators' requests change.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/result.h"
#include "platform/clock.h"
#include "store/store.h"

namespace pgpilot {

struct EtcdConfig {
  std::vector<std::string> endpoints;  // "http://127.0.0.1:2379" or "127.0.0.1:2379"; tried in order
  std::string username;                // empty: no authentication
  std::string password_file;           // with username; 0600
  std::string ca_file;                 // TLS: CA bundle to verify the server
  std::string cert_file;               // TLS client certificate (optional)
  std::string key_file;
  Duration request_timeout{2000};      // one HTTP request, connect included
};

class EtcdClient;  // HTTP plumbing (etcd_client.h)

class EtcdStore final : public Store {
 public:
  // Checks the config and reads the password; does not contact etcd (the first call does).
  static Result<std::unique_ptr<EtcdStore>> Open(const EtcdConfig& config, const std::string& cluster,
                                                 const Clock& clock);
  ~EtcdStore() override;

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
  EtcdStore(std::unique_ptr<EtcdClient> client, std::string cluster, const Clock& clock);
  void WatchLoop();

  std::unique_ptr<EtcdClient> client_;
  std::string cluster_;
  const Clock& clock_;
  std::mutex mu_;                  // one request sequence at a time; guards the fields below
  struct MemberLease {
    int64_t id = 0;
    Duration ttl{0};
  };
  std::map<std::string, MemberLease> member_leases_;  // per member entry, reused while alive

  // The watch: a background thread streaming events of the cluster's prefix.
  std::mutex watch_mu_;
  std::condition_variable watch_cv_;
  uint64_t events_ = 1;            // guarded by watch_mu_; bumped on changes that matter
  bool watch_connected_ = false;   // guarded by watch_mu_
  std::string watch_error_;        // guarded by watch_mu_
  std::chrono::steady_clock::time_point last_probe_;  // guarded by watch_mu_
  std::atomic<bool> stopping_{false};
  std::thread watcher_;
};

}  // namespace pgpilot
