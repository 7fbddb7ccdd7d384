#include "probe/probe_analysis.h"

#include <algorithm>
#include <cstdio>

namespace pgpilot {

ProbeSummary Analyze(const std::vector<ProbeAttempt>& attempts, const std::set<int64_t>& present) {
  ProbeSummary s;
  std::vector<const ProbeAttempt*> acks;
  for (const ProbeAttempt& a : attempts) {
    ++s.attempts;
    switch (a.outcome) {
      case ProbeAttempt::Outcome::kAcknowledged:
        ++s.acknowledged;
        acks.push_back(&a);
        if (!present.contains(a.id)) ++s.lost;
        break;
      case ProbeAttempt::Outcome::kFailed: ++s.failed; break;
      case ProbeAttempt::Outcome::kUnanswered: ++s.unanswered; break;
    }
  }
  if (acks.empty()) return s;
  // In the order the acknowledgements arrived: an older timeline acknowledging after a newer one
  // did means an old primary still accepted writes after another member was promoted.
  std::stable_sort(acks.begin(), acks.end(),
                   [](const ProbeAttempt* a, const ProbeAttempt* b) { return a->ended_ms < b->ended_ms; });
  uint32_t newest = 0;
  int64_t longest = 0;
  for (size_t i = 0; i < acks.size(); ++i) {
    if (acks[i]->timeline < newest) ++s.split_brain;
    newest = std::max(newest, acks[i]->timeline);
    if (i > 0) longest = std::max(longest, acks[i]->ended_ms - acks[i - 1]->ended_ms);
  }
  s.max_gap_s = static_cast<double>(longest) / 1000.0;
  s.first_ack_s = static_cast<double>(acks.front()->ended_ms) / 1000.0;
  s.last_ack_s = static_cast<double>(acks.back()->ended_ms) / 1000.0;
  return s;
}

std::string FormatSummary(const ProbeSummary& s) {
  char line[512];
  std::snprintf(line, sizeof line,
                "PROBE attempts=%lld acked=%lld failed=%lld unanswered=%lld lost=%lld split_brain=%lld "
                "max_gap_s=%.3f first_ack_s=%.3f last_ack_s=%.3f",
                static_cast<long long>(s.attempts), static_cast<long long>(s.acknowledged),
                static_cast<long long>(s.failed), static_cast<long long>(s.unanswered),
                static_cast<long long>(s.lost), static_cast<long long>(s.split_brain), s.max_gap_s,
                s.first_ack_s, s.last_ack_s);
  return line;
}

std::string FormatAttempt(const ProbeAttempt& a) {
  const char* outcome = a.outcome == ProbeAttempt::Outcome::kAcknowledged ? "ack"
                        : a.outcome == ProbeAttempt::Outcome::kFailed     ? "failed"
                                                                           : "unanswered";
  std::string error = a.error;
  std::replace(error.begin(), error.end(), '\n', ' ');
  return std::to_string(a.id) + " " + std::to_string(a.started_ms) + " " + std::to_string(a.ended_ms) + " " +
         outcome + " " + std::to_string(a.server_port) + " " + std::to_string(a.timeline) +
         (error.empty() ? "" : " " + error);
}

}  // namespace pgpilot
