// The commit fence's client: a physical streaming-replication connection from the agent to its own
// primary that confirms WAL (and so releases the commits waiting for it, when the primary's
// synchronous_standby_names names the fence) only while the agent can prove its leader lease.
// Frozen, killed or without a provable lease, the agent confirms nothing and commits wait.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>

#include "core/sync_standbys.h"  // kCommitFenceName, the application_name it connects with
#include "core/types.h"
#include "platform/clock.h"

namespace pgpilot {


struct CommitFenceStatus {
  bool connected = false;    // streaming from the primary
  Lsn confirmed;             // the last position confirmed to it
  std::string error;         // why it is not connected, when it is not
};

class CommitFence {
 public:
  explicit CommitFence(const Clock& clock);
  ~CommitFence();
  CommitFence(const CommitFence&) = delete;
  CommitFence& operator=(const CommitFence&) = delete;

  // Streams from the primary at `conninfo` (keyword/value, secrets in a passfile; replication and
  // application_name are added here); "" disconnects. Reconnects by itself after an error.
  void Target(const std::string& conninfo);
  // Confirmations are sent only before `deadline` (the lease's own deadline on the monotonic
  // clock); the agent moves it after every renewal. MonoTime{} confirms nothing.
  void ConfirmUntil(MonoTime deadline);
  CommitFenceStatus Status() const;

 private:
  void Run();
  // One connection's life: returns when it breaks, the target changes or the fence stops.
  void Stream(const std::string& conninfo);
  bool MayConfirm() const;

  const Clock& clock_;
  std::atomic<int64_t> confirm_until_ms_{0};
  std::atomic<bool> stopping_{false};
  mutable std::mutex mu_;
  std::string target_;         // guarded by mu_
  uint64_t target_version_ = 0;  // guarded by mu_; bumped on every change
  CommitFenceStatus status_;   // guarded by mu_
  std::thread thread_;
};

}  // namespace pgpilot
