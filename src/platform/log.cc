#include "platform/log.h"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <memory>
#include <mutex>

namespace pgpilot {
namespace {

std::mutex g_mu;
LogFormat g_format = LogFormat::kText;
std::string g_prefix;
std::shared_ptr<spdlog::logger> g_logger;

std::string JsonEscape(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 8);
  for (char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += c;
        }
    }
  }
  return out;
}

spdlog::level::level_enum ToSpd(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug: return spdlog::level::debug;
    case LogLevel::kInfo: return spdlog::level::info;
    case LogLevel::kWarn: return spdlog::level::warn;
    case LogLevel::kError: return spdlog::level::err;
  }
  return spdlog::level::info;
}

std::shared_ptr<spdlog::logger> Logger() {
  if (!g_logger) {
    g_logger = std::make_shared<spdlog::logger>(
        "pgpilot", std::make_shared<spdlog::sinks::stderr_sink_mt>());
    g_logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e%z %l %v");
    g_logger->flush_on(spdlog::level::debug);
  }
  return g_logger;
}

}  // namespace

void InitLog(LogFormat format, LogLevel level, std::string prefix) {
  std::lock_guard<std::mutex> lock(g_mu);
  g_format = format;
  g_prefix = std::move(prefix);
  auto logger = Logger();
  logger->set_level(ToSpd(level));
  if (format == LogFormat::kJson) {
    logger->set_pattern(R"({"time":"%Y-%m-%dT%H:%M:%S.%e%z","level":"%l",%v})");
  } else {
    logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e%z %l %v");
  }
}

void Log(LogLevel level, std::string_view message) {
  std::lock_guard<std::mutex> lock(g_mu);
  auto logger = Logger();
  if (g_format == LogFormat::kJson) {
    std::string body = "\"member\":\"" + JsonEscape(g_prefix) + "\",\"msg\":\"" +
                       JsonEscape(message) + "\"";
    logger->log(ToSpd(level), "{}", body);
  } else if (g_prefix.empty()) {
    logger->log(ToSpd(level), "{}", message);
  } else {
    logger->log(ToSpd(level), "{}: {}", g_prefix, message);
  }
}

}  // namespace pgpilot
