// pgpilot-prober: writes through a connection string about every 10 ms until told to stop, then
// prints what the attempts say (unavailability, lost and split-brain acknowledgements).
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <string>

#include "probe/probe_analysis.h"
#include "probe/write_prober.h"

namespace {

std::atomic<bool> g_stop{false};

void OnSignal(int) { g_stop.store(true); }

constexpr const char* kUsage =
    "usage: pgpilot-prober --dsn CONNINFO [--interval-ms 10] [--duration-s S] [--drain-s 5]\n"
    "                      [--log FILE] [--max-connections 64]\n"
    "Writes an increasing id through CONNINFO (a libpq connection string reaching the primary,\n"
    "e.g. multi-host with target_session_attrs=read-write; put the password in a passfile, never\n"
    "here) until --duration-s passes or SIGTERM/SIGINT, waits up to --drain-s for answers, reads\n"
    "the ids back from the final primary and prints one line:\n"
    "  PROBE attempts=N acked=N failed=N unanswered=N lost=N split_brain=N max_gap_s=X ...\n"
    "Like a connection pool it makes at most 2 connection attempts at once, none for 25 ms after\n"
    "one failed; an attempt that finds no connection meanwhile fails at once.\n"
    "Exit status: 0 with the summary printed, 1 when the cluster could not be reached, 2 on bad usage.\n";

int Usage(const std::string& problem) {
  std::cerr << "pgpilot-prober: " << problem << "\n" << kUsage;
  return 2;
}

bool ParseNumber(const std::string& text, double* out) {
  char* end = nullptr;
  *out = std::strtod(text.c_str(), &end);
  return !text.empty() && end != nullptr && *end == '\0' && *out >= 0;
}

}  // namespace

int main(int argc, char** argv) {
  using pgpilot::Duration;
  pgpilot::ProberOptions options;
  double interval_ms = 10, duration_s = 0, drain_s = 5, max_connections = 64;
  std::string log_path;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "-h" || arg == "--help") {
      std::cout << kUsage;
      return 0;
    }
    if (i + 1 >= argc) return Usage(arg + " needs a value");
    std::string value = argv[++i];
    double* number = arg == "--interval-ms"       ? &interval_ms
                     : arg == "--duration-s"      ? &duration_s
                     : arg == "--drain-s"         ? &drain_s
                     : arg == "--max-connections" ? &max_connections
                                                  : nullptr;
    if (arg == "--dsn") {
      options.conninfo = value;
    } else if (arg == "--log") {
      log_path = value;
    } else if (number == nullptr) {
      return Usage("unknown option " + arg);
    } else if (!ParseNumber(value, number)) {
      return Usage(arg + " must be a number, not '" + value + "'");
    }
  }
  if (options.conninfo.empty()) return Usage("--dsn is required");
  if (interval_ms < 1 || max_connections < 1) return Usage("--interval-ms and --max-connections must be at least 1");
  options.interval = Duration(static_cast<int64_t>(interval_ms));
  options.max_connections = static_cast<int>(max_connections);

  struct sigaction sa {};
  sa.sa_handler = OnSignal;
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);

  pgpilot::WriteProber prober(options);
  pgpilot::Status ready = prober.Prepare(Duration(30000));
  if (!ready.ok()) {
    std::cerr << "pgpilot-prober: " << ready.error().ToString() << "\n";
    return 1;
  }
  std::cerr << "pgpilot-prober: writing every " << interval_ms << " ms\n";
  prober.Run(g_stop, Duration(static_cast<int64_t>(duration_s * 1000)));
  auto attempts = prober.Finish(Duration(static_cast<int64_t>(drain_s * 1000)));
  auto present = prober.IdsOnPrimary(Duration(30000));
  if (!present.ok()) {
    std::cerr << "pgpilot-prober: " << present.error().ToString() << "\n";
    _exit(1);
  }
  if (!log_path.empty()) {
    std::ofstream log(log_path);
    log << "# id started_ms ended_ms outcome server_port timeline error\n";
    for (const auto& a : attempts) log << pgpilot::FormatAttempt(a) << "\n";
  }
  std::cout << pgpilot::FormatSummary(pgpilot::Analyze(attempts, *present)) << std::endl;
  // Threads stuck on a server that never answered are still waiting: leave without them.
  _exit(0);
}
