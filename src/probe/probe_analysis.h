// What a write prober's attempts say about a cluster: the write-unavailability window, the
// acknowledged writes the final primary lacks, and the split-brain acknowledgements. Pure.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <vector>

namespace pgpilot {

// One write attempt of the prober: one INSERT of a unique id.
struct ProbeAttempt {
  enum class Outcome { kAcknowledged, kFailed, kUnanswered };
  int64_t id = 0;
  int64_t started_ms = 0;  // since the prober started (monotonic)
  int64_t ended_ms = 0;    // when the answer (or the failure) arrived; unset when unanswered
  Outcome outcome = Outcome::kUnanswered;
  int server_port = 0;     // inet_server_port() of the server that acknowledged it
  uint32_t timeline = 0;   // that server's WAL insert timeline when it acknowledged it
  std::string error;       // why it failed
};

struct ProbeSummary {
  int64_t attempts = 0;
  int64_t acknowledged = 0;
  int64_t failed = 0;
  int64_t unanswered = 0;
  int64_t lost = 0;         // acknowledged, but absent on the final primary
  int64_t split_brain = 0;  // acknowledged on an older timeline after a newer one acknowledged
  double max_gap_s = 0;     // the longest time between two consecutive acknowledgements
  double first_ack_s = 0;
  double last_ack_s = 0;
};

// `present`: the ids the final primary holds (only acknowledged ids are looked up).
ProbeSummary Analyze(const std::vector<ProbeAttempt>& attempts, const std::set<int64_t>& present);

// "PROBE attempts=... max_gap_s=..." : the one line scripts parse.
std::string FormatSummary(const ProbeSummary& summary);

// One attempt as a line of the prober's log: "id started_ms ended_ms outcome port timeline error".
std::string FormatAttempt(const ProbeAttempt& attempt);

}  // namespace pgpilot
