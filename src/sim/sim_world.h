// One simulated schedule: N agents running the real Decide against a simulated store, simulated
// PostgreSQL instances, a network, per-node clocks and a client, driven by a discrete-event loop
// from one seed. The invariants of design.md are checked after every event.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "sim/unsafe_variants.h"

namespace pgpilot::sim {

struct SimOptions {
  int nodes = 3;
  int max_drift_ppm = 20000;      // each node's clock rate within +-2% of real time
  int latency_min_ms = 1;         // one-way store latency, per request and per response
  int latency_max_ms = 40;
  int max_faults = 4;             // per schedule, at least one
  int ttl_ms = 0;                 // 0: each schedule picks 2, 4 or 10 s
  int spike_latency_ms = 0;       // a latency-spike fault's one-way maximum; 0: the lease margin
  bool machine_freeze = false;    // also freeze whole machines (agent, PostgreSQL and watchdog)
  // The commit fence: a primary acknowledges a commit only while its agent, alive and not frozen,
  // can prove its lease; the split-brain invariant is then about acknowledging, not accepting.
  bool commit_fence = false;
  // Synchronous mode: commits are acknowledged once the standbys PostgreSQL waits for have them,
  // and no acknowledged commit may be missing from a later primary.
  SyncMode sync_mode = SyncMode::kOff;
  Variant variant = Variant::kNone;
  bool trace = false;             // keep the readable timeline of events and decisions
};

struct ScheduleResult {
  uint64_t seed = 0;
  int64_t simulated_ms = 0;
  std::optional<std::string> violation;  // the first invariant broken, with the time
  bool safety_violation = false;  // split brain or a lost cluster, not only slow convergence
  int64_t convergence_ms = 0;     // from the last fault healed to one primary, all following
  // Synchronous mode: ended waiting for an operator, by design: the sync set's leader lost its
  // data and no member of the set has it, so nobody may be promoted without risking a commit.
  bool operator_needed = false;
  int faults = 0;
  int promotions = 0;
  int64_t writes_acknowledged = 0;
  std::string settings;           // "3 nodes, ttl 4.0s, loop 1.0s, etcd-style expiry, ..."
  std::vector<std::string> timeline;  // when traced
};

// Runs the schedule generated from `seed`. Same seed, same options: same result, event for event.
ScheduleResult RunSchedule(uint64_t seed, const SimOptions& options);

}  // namespace pgpilot::sim
