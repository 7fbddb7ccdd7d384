// pgpilot-sim: runs fault schedules against the real decision code and reports invariant violations.
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <thread>

#include "core/types.h"
#include "sim/sim_runner.h"

namespace {

using pgpilot::sim::AllVariants;
using pgpilot::sim::ParseVariant;
using pgpilot::sim::RunSchedule;
using pgpilot::sim::RunSchedules;
using pgpilot::sim::RunSummary;
using pgpilot::sim::ScheduleResult;
using pgpilot::sim::SimOptions;
using pgpilot::sim::Variant;
using pgpilot::sim::VariantName;

constexpr const char* kUsage =
    "usage: pgpilot-sim [--schedules N] [--seed S] [--nodes 3|5] [--unsafe VARIANT|list]\n"
    "                   [--jobs J] [--max-drift-ppm P] [--latency MIN-MAX] [--max-faults F]\n"
    "                   [--ttl MS] [--spike-ms MS] [--synchronous-mode off|on|strict]\n"
    "                   [--machine-freeze] [--commit-fence] [--replay SCHEDULE_SEED]\n"
    "Runs N fault schedules generated from S against the real HA decision code, checks the\n"
    "invariants after every simulated event, and prints a summary ending in\n"
    "  schedules=N violations=V seconds=S   (S: wall-clock seconds the run took)\n"
    "Exit status: 0 no violation, 1 violations found, 2 bad usage.\n";

int Usage(const std::string& problem) {
  std::cerr << "pgpilot-sim: " << problem << "\n" << kUsage;
  return 2;
}

bool ParseInt(const std::string& text, int64_t* out) {
  char* end = nullptr;
  long long v = std::strtoll(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0') return false;
  *out = v;
  return true;
}

std::string Options(const SimOptions& o) {
  std::string s = " --nodes " + std::to_string(o.nodes) + " --max-drift-ppm " +
                  std::to_string(o.max_drift_ppm) + " --latency " + std::to_string(o.latency_min_ms) +
                  "-" + std::to_string(o.latency_max_ms) + " --max-faults " + std::to_string(o.max_faults);
  if (o.machine_freeze) s += " --machine-freeze";
  if (o.commit_fence) s += " --commit-fence";
  if (o.sync_mode != pgpilot::SyncMode::kOff) {
    s += std::string(" --synchronous-mode ") + pgpilot::SyncModeName(o.sync_mode);
  }
  if (o.ttl_ms > 0) s += " --ttl " + std::to_string(o.ttl_ms);
  if (o.spike_latency_ms > 0) s += " --spike-ms " + std::to_string(o.spike_latency_ms);
  if (o.variant != Variant::kNone) s += std::string(" --unsafe ") + VariantName(o.variant);
  return s;
}

void PrintTimeline(const ScheduleResult& r) {
  for (const std::string& line : r.timeline) std::cout << "  " << line << "\n";
}

}  // namespace

int main(int argc, char** argv) {
  SimOptions options;
  int64_t schedules = 1000;
  int64_t seed = 1;
  int64_t jobs = std::max(1u, std::thread::hardware_concurrency());
  std::optional<int64_t> replay;
  for (int k = 1; k < argc; ++k) {
    std::string arg = argv[k];
    auto value = [&](int64_t* out) {
      if (k + 1 >= argc) return false;
      return ParseInt(argv[++k], out);
    };
    int64_t v = 0;
    if (arg == "--help" || arg == "-h") {
      std::cout << kUsage;
      return 0;
    } else if (arg == "--schedules") {
      if (!value(&schedules) || schedules < 1) return Usage("--schedules needs a positive number");
    } else if (arg == "--seed") {
      if (!value(&seed)) return Usage("--seed needs a number");
    } else if (arg == "--nodes") {
      if (!value(&v) || (v != 3 && v != 5)) return Usage("--nodes must be 3 or 5");
      options.nodes = static_cast<int>(v);
    } else if (arg == "--jobs") {
      if (!value(&jobs) || jobs < 1) return Usage("--jobs needs a positive number");
    } else if (arg == "--max-drift-ppm") {
      if (!value(&v) || v < 0 || v > 500000) return Usage("--max-drift-ppm must be 0..500000");
      options.max_drift_ppm = static_cast<int>(v);
    } else if (arg == "--ttl") {
      if (!value(&v) || v < 2000 || v > 600000) return Usage("--ttl must be 2000..600000 (milliseconds)");
      options.ttl_ms = static_cast<int>(v);
    } else if (arg == "--spike-ms") {
      if (!value(&v) || v < 1 || v > 60000) return Usage("--spike-ms must be 1..60000");
      options.spike_latency_ms = static_cast<int>(v);
    } else if (arg == "--max-faults") {
      if (!value(&v) || v < 1 || v > 50) return Usage("--max-faults must be 1..50");
      options.max_faults = static_cast<int>(v);
    } else if (arg == "--latency") {
      if (k + 1 >= argc) return Usage("--latency needs MIN-MAX in milliseconds, e.g. 1-40");
      std::string text = argv[++k];
      auto dash = text.find('-');
      int64_t lo = 0, hi = 0;
      if (dash == std::string::npos || !ParseInt(text.substr(0, dash), &lo) ||
          !ParseInt(text.substr(dash + 1), &hi) || lo < 0 || hi < lo || hi > 60000) {
        return Usage("--latency needs MIN-MAX in milliseconds with 0 <= MIN <= MAX, e.g. 1-40");
      }
      options.latency_min_ms = static_cast<int>(lo);
      options.latency_max_ms = static_cast<int>(hi);
    } else if (arg == "--synchronous-mode") {
      auto mode = k + 1 < argc ? pgpilot::ParseSyncMode(argv[++k]) : std::nullopt;
      if (!mode) return Usage("--synchronous-mode must be off, on or strict");
      options.sync_mode = *mode;
    } else if (arg == "--machine-freeze") {
      options.machine_freeze = true;
    } else if (arg == "--commit-fence") {
      options.commit_fence = true;
    } else if (arg == "--replay") {
      if (!value(&v) || v < 0) return Usage("--replay needs a schedule seed");
      replay = v;
    } else if (arg == "--unsafe") {
      if (k + 1 >= argc) return Usage("--unsafe needs a variant name, or list");
      std::string name = argv[++k];
      if (name == "list") {
        for (const auto& variant : AllVariants()) {
          std::printf("%-22s %s\n", variant.name, variant.description);
        }
        return 0;
      }
      auto parsed = ParseVariant(name);
      if (!parsed) return Usage("unknown variant '" + name + "' (see --unsafe list)");
      options.variant = *parsed;
    } else {
      return Usage("unknown argument '" + arg + "'");
    }
  }

  if (replay) {
    options.trace = true;
    ScheduleResult r = RunSchedule(static_cast<uint64_t>(*replay), options);
    std::cout << "schedule " << r.seed << " (" << r.settings << ")\n";
    PrintTimeline(r);
    std::cout << (r.violation ? "VIOLATION " + *r.violation : std::string("no violation")) << "\n";
    std::cout << "schedules=1 violations=" << (r.violation ? 1 : 0) << " seconds=0\n";
    return r.violation ? 1 : 0;
  }

  std::cout << "pgpilot-sim: " << schedules << " schedules from seed " << seed << ", "
            << options.nodes << " nodes, decision "
            << (options.variant == Variant::kNone ? "real" : std::string("UNSAFE ") + VariantName(options.variant))
            << ", " << jobs << " threads\n";
  std::cout.flush();
  RunSummary s = RunSchedules(static_cast<uint64_t>(seed), schedules, options, static_cast<int>(jobs),
                              /*stop_at_first=*/false);
  double sim_s = static_cast<double>(s.simulated_ms) / 1000.0;
  std::printf("schedules run:        %lld\n", static_cast<long long>(s.schedules));
  std::printf("simulated time:       %.0f s (%.1f h)\n", sim_s, sim_s / 3600.0);
  std::printf("faults injected:      %lld, promotions %lld, writes acknowledged %lld\n",
              static_cast<long long>(s.faults), static_cast<long long>(s.promotions),
              static_cast<long long>(s.writes));
  std::printf("slowest convergence:  %.1f s after the last fault healed (schedule %llu)\n",
              static_cast<double>(s.slowest_convergence_ms) / 1000.0,
              static_cast<unsigned long long>(s.slowest_convergence_seed));
  std::printf("violations:           %lld (safety: %lld; no convergence in time: %lld)\n",
              static_cast<long long>(s.violations), static_cast<long long>(s.safety_violations),
              static_cast<long long>(s.violations - s.safety_violations));
  if (options.sync_mode != pgpilot::SyncMode::kOff) {
    std::printf("waiting for operator: %lld (synchronous mode, by design: the sync set's data lost)\n",
                static_cast<long long>(s.operator_needed));
  }
  std::printf("schedules per second: %.0f (%.1f s wall)\n",
              s.wall_seconds > 0 ? static_cast<double>(s.schedules) / s.wall_seconds : 0.0, s.wall_seconds);
  for (const ScheduleResult& f : s.failures) {
    std::cout << "violation in schedule " << f.seed << ": " << *f.violation << "\n"
              << "  replay: pgpilot-sim --replay " << f.seed << Options(options) << "\n";
  }
  if (!s.failures.empty()) {
    SimOptions traced = options;
    traced.trace = true;
    ScheduleResult r = RunSchedule(s.failures.front().seed, traced);
    std::cout << "timeline of schedule " << r.seed << " (" << r.settings << "):\n";
    PrintTimeline(r);
  }
  std::printf("schedules=%lld violations=%lld seconds=%.1f\n", static_cast<long long>(s.schedules),
              static_cast<long long>(s.violations), s.wall_seconds);
  return s.violations > 0 ? 1 : 0;
}
