// The process's log: one line per event, text or JSON; spdlog stays inside log.cc.
#pragma once

#include <initializer_list>
#include <iosfwd>
#include <string>
#include <string_view>

namespace pgpilot {

enum class LogLevel { kDebug, kInfo, kWarn, kError };
enum class LogFormat { kText, kJson };

// Sets format, minimum level and who is logging, for every line; to stderr.
// Text: "TIME LEVEL member: message". JSON: {"time", "level", "cluster" (when not empty),
// "member", "msg", then the line's fields}. Either way one event is one line: control characters
// in a text line are written escaped ("\n"), as JSON escapes them.
void InitLog(LogFormat format, LogLevel level, std::string member, std::string cluster = "");

// Tests: every line goes to `destination` instead of stderr; nullptr goes back to stderr.
void RedirectLogForTesting(std::ostream* destination);

void Log(LogLevel level, std::string_view message);
inline void LogDebug(std::string_view m) { Log(LogLevel::kDebug, m); }
inline void LogInfo(std::string_view m) { Log(LogLevel::kInfo, m); }
inline void LogWarn(std::string_view m) { Log(LogLevel::kWarn, m); }
inline void LogError(std::string_view m) { Log(LogLevel::kError, m); }

// One named value of a structured line.
struct LogField {
  std::string_view key;
  std::string_view value;
};

// A line with named fields for machines. JSON: each field is a key of the line's object, after
// "msg"; a field named "cluster" or "member" replaces the value InitLog gave, a later field
// replaces an earlier one of the same name, and a field named "time", "level" or "msg" (the
// logger's own keys) is written as "field_time", "field_level", "field_msg". Text: the message
// alone, as Log writes it, so the message must say by itself what a reader needs.
void LogFields(LogLevel level, std::string_view message, std::initializer_list<LogField> fields);

}  // namespace pgpilot
