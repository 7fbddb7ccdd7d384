#include "probe/probe_analysis.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace pgpilot {
namespace {

using Outcome = ProbeAttempt::Outcome;

ProbeAttempt Ack(int64_t id, int64_t ended_ms, uint32_t timeline, int port = 5432) {
  return ProbeAttempt{id, ended_ms - 5, ended_ms, Outcome::kAcknowledged, port, timeline, ""};
}
ProbeAttempt Failed(int64_t id, int64_t at_ms) {
  return ProbeAttempt{id, at_ms, at_ms + 1, Outcome::kFailed, 0, 0, "connection refused"};
}

TEST(ProbeAnalysis, TheLongestGapBetweenAcknowledgementsIsTheUnavailability) {
  std::vector<ProbeAttempt> a = {Ack(1, 100, 1), Ack(2, 110, 1), Failed(3, 120), Failed(4, 130),
                                 Ack(5, 3120, 2, 5433), Ack(6, 3130, 2, 5433)};
  ProbeSummary s = Analyze(a, {1, 2, 5, 6});
  EXPECT_EQ(s.attempts, 6);
  EXPECT_EQ(s.acknowledged, 4);
  EXPECT_EQ(s.failed, 2);
  EXPECT_EQ(s.lost, 0);
  EXPECT_EQ(s.split_brain, 0);
  EXPECT_DOUBLE_EQ(s.max_gap_s, 3.010);
  EXPECT_DOUBLE_EQ(s.first_ack_s, 0.1);
  EXPECT_DOUBLE_EQ(s.last_ack_s, 3.13);
}

TEST(ProbeAnalysis, AcknowledgedIdsMissingOnTheFinalPrimaryAreLost) {
  std::vector<ProbeAttempt> a = {Ack(1, 100, 1), Ack(2, 110, 1), Ack(3, 5000, 2, 5433)};
  a.push_back(ProbeAttempt{4, 120, 0, Outcome::kUnanswered, 0, 0, ""});
  ProbeSummary s = Analyze(a, {1, 3, 4});
  EXPECT_EQ(s.lost, 1) << "id 2 was acknowledged and is gone; id 4 was never acknowledged";
  EXPECT_EQ(s.unanswered, 1);
}

TEST(ProbeAnalysis, AnOldTimelineAcknowledgingAfterANewOneIsSplitBrainWhateverTheArrivalOrderInTheLog) {
  // The frozen old primary (timeline 1) answers two commits after it resumes, once timeline 2
  // already acknowledged; the log lists attempts by start time, not by answer.
  std::vector<ProbeAttempt> a = {Ack(1, 100, 1), Ack(2, 20000, 1), Ack(3, 15000, 2, 5433),
                                 Ack(4, 20001, 1), Ack(5, 20010, 2, 5433)};
  ProbeSummary s = Analyze(a, {1, 2, 3, 4, 5});
  EXPECT_EQ(s.split_brain, 2);
  EXPECT_DOUBLE_EQ(s.max_gap_s, 14.9);
}

TEST(ProbeAnalysis, NothingAcknowledgedLeavesTheWindowsAtZeroAndTheSummaryParses) {
  ProbeSummary s = Analyze({Failed(1, 10)}, {});
  EXPECT_EQ(s.acknowledged, 0);
  EXPECT_EQ(FormatSummary(s), "PROBE attempts=1 acked=0 failed=1 unanswered=0 lost=0 split_brain=0 "
                              "max_gap_s=0.000 first_ack_s=0.000 last_ack_s=0.000");
  EXPECT_EQ(FormatAttempt(Failed(7, 10)), "7 10 11 failed 0 0 connection refused");
}

}  // namespace
}  // namespace pgpilot
