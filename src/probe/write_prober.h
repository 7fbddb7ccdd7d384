// The write prober: inserts an increasing id through a connection string about every interval,
// over as many connections as it takes, so an attempt stuck on a frozen server stays in flight
// (and is recorded if that server answers later) while the next attempts go elsewhere.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "core/result.h"
#include "core/types.h"
#include "probe/probe_analysis.h"

namespace pgpilot {

struct ProberOptions {
  std::string conninfo;      // e.g. the multi-host read-write string of `pgpilot ctl dsn`
  Duration interval{10};     // one attempt per interval
  int max_connections = 64;  // connections (one thread each) at most, stuck ones included
  // Like a connection pool's retry: at most this many connection attempts at once, and none for
  // connect_backoff after one failed; attempts that find no connection meanwhile fail at once.
  // Without this, a failover's refused connections become a storm of new backends and password
  // handshakes that starves the machine, and the HA system being measured with it.
  int max_connecting = 2;
  Duration connect_backoff{25};
};

class WriteProber {
 public:
  explicit WriteProber(ProberOptions options);
  ~WriteProber();
  WriteProber(const WriteProber&) = delete;
  WriteProber& operator=(const WriteProber&) = delete;

  // Creates the probe table through the connection string, retrying for up to `patience`.
  Status Prepare(Duration patience);
  // Starts one attempt per interval until `stop` is set or `duration` passed (0: no limit).
  void Run(const std::atomic<bool>& stop, Duration duration);
  // Waits up to `patience` for attempts in flight; returns every attempt (those still in flight
  // as unanswered). Threads stuck on a server that never answers are left behind.
  std::vector<ProbeAttempt> Finish(Duration patience);
  // The probe ids the current primary holds (retrying for up to `patience`).
  Result<std::set<int64_t>> IdsOnPrimary(Duration patience);

 private:
  struct Shared;
  static void Work(std::shared_ptr<Shared> shared);

  ProberOptions options_;
  std::shared_ptr<Shared> shared_;
};

}  // namespace pgpilot
