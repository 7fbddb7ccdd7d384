// What the HA loop publishes after each tick for the API thread to serve: an immutable value,
// swapped whole, so requests never touch PostgreSQL or the store.
#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "agent/agent_counters.h"
#include "core/cluster_view.h"
#include "core/types.h"

namespace pgpilot {

struct AgentSnapshot {
  std::string cluster_name;
  MemberStatus member;          // exactly what we published in the store
  bool holds_lease = false;
  bool store_reachable = false;
  std::string store_error;
  std::optional<ClusterView> cluster;  // the last view loaded
  MonoTime last_loop;           // when the last tick finished
  Duration ttl{0};
  AgentCounters counters;       // since the agent started, as of this tick
};

// Latest-value holder shared by the loop (writer) and the API threads (readers).
class SnapshotBoard {
 public:
  void Publish(std::shared_ptr<const AgentSnapshot> snapshot) {
    std::lock_guard<std::mutex> lock(mu_);
    current_ = std::move(snapshot);
  }
  std::shared_ptr<const AgentSnapshot> Current() const {
    std::lock_guard<std::mutex> lock(mu_);
    return current_;
  }

 private:
  mutable std::mutex mu_;
  std::shared_ptr<const AgentSnapshot> current_;  // guarded by mu_
};

}  // namespace pgpilot
