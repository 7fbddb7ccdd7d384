// The log's line shapes: JSON lines that parse, with every field as its own key and nothing lost
// to escaping; text lines that stay one line.
#include "platform/log.h"

#include <gtest/gtest.h>

#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

namespace pgpilot {
namespace {

using nlohmann::json;

// Sends the log to a string for one test, and puts the process's log back afterwards.
class CapturedLog {
 public:
  CapturedLog(LogFormat format, LogLevel level, std::string member, std::string cluster) {
    InitLog(format, level, std::move(member), std::move(cluster));
    RedirectLogForTesting(&out_);
  }
  ~CapturedLog() {
    RedirectLogForTesting(nullptr);
    InitLog(LogFormat::kText, LogLevel::kInfo, "");
  }
  std::vector<std::string> Lines() const {
    std::vector<std::string> lines;
    std::istringstream in(out_.str());
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    return lines;
  }
  std::string Text() const { return out_.str(); }

 private:
  std::ostringstream out_;
};

// How many times each top-level key occurs in one JSON object (a plain parse would keep the
// last of two equal keys silently).
std::map<std::string, int> TopLevelKeyCounts(const std::string& line) {
  std::map<std::string, int> counts;
  json::parser_callback_t count = [&counts](int depth, json::parse_event_t event, json& parsed) {
    if (event == json::parse_event_t::key && depth == 1) counts[parsed.get<std::string>()]++;
    return true;
  };
  json ignored = json::parse(line, count, /*allow_exceptions=*/false);
  EXPECT_FALSE(ignored.is_discarded()) << line;
  return counts;
}

json ParseLine(const std::string& line) {
  json j = json::parse(line, nullptr, /*allow_exceptions=*/false);
  EXPECT_FALSE(j.is_discarded()) << "not JSON: " << line;
  return j;
}

TEST(LogJson, DecisionFieldsAreSeparateKeysAndTheReasonSurvivesEscaping) {
  const std::string reason =
      "the lease of \"pg-0\" expired\nnext line\r\ttab \\ backslash \x01\x1f control, "
      "caf\xc3\xa9";
  std::vector<std::string> lines;
  {
    CapturedLog log(LogFormat::kJson, LogLevel::kInfo, "pg-1", "shop");
    LogFields(LogLevel::kInfo, "decision replica->promoting",
              {{"from", "replica"}, {"state", "promoting"}, {"reason", reason}});
    lines = log.Lines();
  }
  ASSERT_EQ(lines.size(), 1u) << "one event, one line, whatever the reason holds";
  json j = ParseLine(lines[0]);
  EXPECT_EQ(j.value("level", ""), "info");
  EXPECT_FALSE(j.value("time", "").empty());
  EXPECT_EQ(j.value("cluster", ""), "shop");
  EXPECT_EQ(j.value("member", ""), "pg-1");
  EXPECT_EQ(j.value("msg", ""), "decision replica->promoting");
  EXPECT_EQ(j.value("from", ""), "replica");
  EXPECT_EQ(j.value("state", ""), "promoting");
  EXPECT_EQ(j.value("reason", ""), reason);
  for (const auto& [key, count] : TopLevelKeyCounts(lines[0])) EXPECT_EQ(count, 1) << key;
  EXPECT_EQ(TopLevelKeyCounts(lines[0]).size(), 8u) << lines[0];
}

TEST(LogJson, PlainLinesCarryTheClusterAndMember) {
  std::vector<std::string> lines;
  {
    CapturedLog log(LogFormat::kJson, LogLevel::kInfo, "pg-2", "shop");
    LogWarn("store \"unreachable\"");
    lines = log.Lines();
  }
  ASSERT_EQ(lines.size(), 1u);
  json j = ParseLine(lines[0]);
  EXPECT_EQ(j.value("level", ""), "warning");
  EXPECT_EQ(j.value("cluster", ""), "shop");
  EXPECT_EQ(j.value("member", ""), "pg-2");
  EXPECT_EQ(j.value("msg", ""), "store \"unreachable\"");
}

TEST(LogJson, WithoutAClusterTheKeyIsLeftOutAndAFieldMayGiveIt) {
  std::vector<std::string> lines;
  {
    CapturedLog log(LogFormat::kJson, LogLevel::kInfo, "pg-1", "");
    LogInfo("started");
    LogFields(LogLevel::kInfo, "decision", {{"cluster", "from-field"}, {"member", "pg-9"}});
    lines = log.Lines();
  }
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_FALSE(ParseLine(lines[0]).contains("cluster")) << lines[0];
  json j = ParseLine(lines[1]);
  EXPECT_EQ(j.value("cluster", ""), "from-field");
  EXPECT_EQ(j.value("member", ""), "pg-9");
  for (const auto& [key, count] : TopLevelKeyCounts(lines[1])) EXPECT_EQ(count, 1) << key;
}

TEST(LogJson, FieldsNeverOverwriteTheLoggersOwnKeysNorRepeatAKey) {
  std::vector<std::string> lines;
  {
    CapturedLog log(LogFormat::kJson, LogLevel::kInfo, "pg-1", "shop");
    LogFields(LogLevel::kInfo, "the message",
              {{"time", "t"}, {"level", "l"}, {"msg", "m"}, {"state", "first"}, {"state", "second"}});
    lines = log.Lines();
  }
  ASSERT_EQ(lines.size(), 1u);
  json j = ParseLine(lines[0]);
  EXPECT_EQ(j.value("msg", ""), "the message");
  EXPECT_EQ(j.value("level", ""), "info");
  EXPECT_NE(j.value("time", ""), "t");
  EXPECT_EQ(j.value("field_time", ""), "t");
  EXPECT_EQ(j.value("field_level", ""), "l");
  EXPECT_EQ(j.value("field_msg", ""), "m");
  EXPECT_EQ(j.value("state", ""), "second");
  for (const auto& [key, count] : TopLevelKeyCounts(lines[0])) EXPECT_EQ(count, 1) << key;
}

TEST(LogJson, InvalidUtf8StillMakesALineThatParses) {
  std::vector<std::string> lines;
  {
    CapturedLog log(LogFormat::kJson, LogLevel::kInfo, "pg-1", "shop");
    LogFields(LogLevel::kError, "bad \xff\xfe bytes", {{"reason", "\xc3("}});
    lines = log.Lines();
  }
  ASSERT_EQ(lines.size(), 1u);
  json j = ParseLine(lines[0]);
  EXPECT_EQ(j.value("level", ""), "error");
  EXPECT_EQ(j.value("msg", ""), "bad \xef\xbf\xbd\xef\xbf\xbd bytes");  // U+FFFD twice
}

TEST(LogJson, LinesBelowTheLevelAreNotWritten) {
  std::string text;
  {
    CapturedLog log(LogFormat::kJson, LogLevel::kWarn, "pg-1", "shop");
    LogInfo("routine");
    LogFields(LogLevel::kDebug, "detail", {{"reason", "x"}});
    text = log.Text();
  }
  EXPECT_EQ(text, "");
}

TEST(LogText, StructuredLinesReadAsTheMessageAloneOnOneLine) {
  std::vector<std::string> lines;
  {
    CapturedLog log(LogFormat::kText, LogLevel::kInfo, "pg-1", "shop");
    LogFields(LogLevel::kInfo, "decision replica->stopped reason=\"line one\nline two\"",
              {{"from", "replica"}, {"state", "stopped"}, {"reason", "line one\nline two"}});
    lines = log.Lines();
  }
  ASSERT_EQ(lines.size(), 1u);
  const std::string& line = lines[0];
  EXPECT_NE(line.find(" info pg-1: decision replica->stopped reason=\"line one\\nline two\""),
            std::string::npos)
      << line;
  EXPECT_EQ(line.find("from="), std::string::npos) << "fields are for JSON only: " << line;
  EXPECT_EQ(line.find('{'), std::string::npos) << line;
}

}  // namespace
}  // namespace pgpilot
