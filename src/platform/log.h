// The process's log: one line per event, text or JSON; spdlog stays inside log.cc.
#pragma once

#include <string>
#include <string_view>

namespace pgpilot {

enum class LogLevel { kDebug, kInfo, kWarn, kError };
enum class LogFormat { kText, kJson };

// Sets format, minimum level and a prefix (e.g. the member name) for every line; to stderr.
void InitLog(LogFormat format, LogLevel level, std::string prefix);

void Log(LogLevel level, std::string_view message);
inline void LogDebug(std::string_view m) { Log(LogLevel::kDebug, m); }
inline void LogInfo(std::string_view m) { Log(LogLevel::kInfo, m); }
inline void LogWarn(std::string_view m) { Log(LogLevel::kWarn, m); }
inline void LogError(std::string_view m) { Log(LogLevel::kError, m); }

}  // namespace pgpilot
