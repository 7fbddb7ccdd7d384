#include "sim/sim_runner.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>

namespace pgpilot::sim {

uint64_t ScheduleSeed(uint64_t seed, int64_t index) {
  uint64_t z = seed + 0x9E3779B97F4A7C15ULL * static_cast<uint64_t>(index + 1);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return (z ^ (z >> 31)) & 0xFFFFFFFFFFFFULL;  // 48 bits: short enough to type
}

RunSummary RunSchedules(uint64_t seed, int64_t count, const SimOptions& options, int jobs,
                        bool stop_at_first) {
  auto start = std::chrono::steady_clock::now();
  RunSummary summary;
  std::mutex mu;
  std::atomic<int64_t> next{0};
  std::atomic<bool> stop{false};
  SimOptions quiet = options;
  quiet.trace = false;
  auto worker = [&] {
    while (!stop.load()) {
      int64_t index = next.fetch_add(1);
      if (index >= count) return;
      ScheduleResult r = RunSchedule(ScheduleSeed(seed, index), quiet);
      std::lock_guard<std::mutex> lock(mu);
      summary.schedules += 1;
      summary.simulated_ms += r.simulated_ms;
      summary.faults += r.faults;
      summary.promotions += r.promotions;
      summary.writes += r.writes_acknowledged;
      if (r.operator_needed) summary.operator_needed += 1;
      if (r.violation) {
        summary.violations += 1;
        if (r.safety_violation) summary.safety_violations += 1;
        summary.failures.push_back(std::move(r));
        if (stop_at_first) stop = true;
      } else if (r.convergence_ms > summary.slowest_convergence_ms) {
        summary.slowest_convergence_ms = r.convergence_ms;
        summary.slowest_convergence_seed = r.seed;
      }
    }
  };
  std::vector<std::thread> threads;
  for (int j = 0; j < std::max(1, jobs); ++j) threads.emplace_back(worker);
  for (auto& t : threads) t.join();
  std::sort(summary.failures.begin(), summary.failures.end(),
            [](const ScheduleResult& a, const ScheduleResult& b) { return a.seed < b.seed; });
  if (summary.failures.size() > 10) summary.failures.resize(10);
  summary.wall_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return summary;
}

}  // namespace pgpilot::sim
