// Runs many schedules (in parallel, each deterministic from its own seed) and sums them up.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "sim/sim_world.h"

namespace pgpilot::sim {

struct RunSummary {
  int64_t schedules = 0;
  int64_t violations = 0;
  int64_t safety_violations = 0;  // of which: split brain, initdb over data (the rest: convergence)
  int64_t operator_needed = 0;    // synchronous mode: stopped by design for an operator (no violation)
  std::vector<ScheduleResult> failures;  // the first few, in seed order, without timelines
  int64_t simulated_ms = 0;
  int64_t slowest_convergence_ms = 0;
  uint64_t slowest_convergence_seed = 0;
  int64_t faults = 0;
  int64_t promotions = 0;
  int64_t writes = 0;
  double wall_seconds = 0;
};

// The seed of schedule `index` of a run started with `seed`.
uint64_t ScheduleSeed(uint64_t seed, int64_t index);

// Runs schedules 0..count-1 on `jobs` threads. With stop_at_first, stops soon after a violation.
RunSummary RunSchedules(uint64_t seed, int64_t count, const SimOptions& options, int jobs,
                        bool stop_at_first);

}  // namespace pgpilot::sim
