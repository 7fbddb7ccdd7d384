#include "platform/log.h"

#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>

namespace pgpilot {
namespace {

constexpr const char* kTextPattern = "%Y-%m-%dT%H:%M:%S.%e%z %l %v";
// The message part (%v) is the rest of the object: "cluster", "member", "msg" and the fields.
constexpr const char* kJsonPattern = R"({"time":"%Y-%m-%dT%H:%M:%S.%e%z","level":"%l",%v})";

std::mutex g_mu;
LogFormat g_format = LogFormat::kText;
std::string g_member;   // guarded by g_mu
std::string g_cluster;  // guarded by g_mu
std::shared_ptr<spdlog::logger> g_logger;

spdlog::level::level_enum ToSpd(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug: return spdlog::level::debug;
    case LogLevel::kInfo: return spdlog::level::info;
    case LogLevel::kWarn: return spdlog::level::warn;
    case LogLevel::kError: return spdlog::level::err;
  }
  return spdlog::level::info;
}

const char* Pattern() { return g_format == LogFormat::kJson ? kJsonPattern : kTextPattern; }

std::shared_ptr<spdlog::logger> Logger() {
  if (!g_logger) {
    g_logger = std::make_shared<spdlog::logger>(
        "pgpilot", std::make_shared<spdlog::sinks::stderr_sink_mt>());
    g_logger->set_pattern(Pattern());
    g_logger->flush_on(spdlog::level::debug);
  }
  return g_logger;
}

// A text line stays one line: control characters other than tab are written as escapes.
std::string OneTextLine(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    unsigned char u = static_cast<unsigned char>(c);
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if ((u < 0x20 && c != '\t') || u == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", u);
      out += buf;
    } else {
      out += c;
    }
  }
  return out;
}

// The JSON object's keys after time and level, without the braces. Invalid UTF-8 becomes U+FFFD,
// so the line always parses.
std::string JsonBody(std::string_view message, std::initializer_list<LogField> fields) {
  nlohmann::ordered_json body = nlohmann::ordered_json::object();
  if (!g_cluster.empty()) body["cluster"] = g_cluster;
  body["member"] = g_member;
  body["msg"] = std::string(message);
  for (const LogField& field : fields) {
    std::string key(field.key);
    if (key == "time" || key == "level" || key == "msg") key = "field_" + key;
    body[key] = std::string(field.value);  // replaces an earlier value in place
  }
  std::string text = body.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
  return text.substr(1, text.size() - 2);
}

void Write(LogLevel level, std::string_view message, std::initializer_list<LogField> fields) {
  std::lock_guard<std::mutex> lock(g_mu);
  auto logger = Logger();
  if (!logger->should_log(ToSpd(level))) return;
  if (g_format == LogFormat::kJson) {
    logger->log(ToSpd(level), "{}", JsonBody(message, fields));
  } else if (g_member.empty()) {
    logger->log(ToSpd(level), "{}", OneTextLine(message));
  } else {
    logger->log(ToSpd(level), "{}: {}", g_member, OneTextLine(message));
  }
}

}  // namespace

void InitLog(LogFormat format, LogLevel level, std::string member, std::string cluster) {
  std::lock_guard<std::mutex> lock(g_mu);
  g_format = format;
  g_member = std::move(member);
  g_cluster = std::move(cluster);
  auto logger = Logger();
  logger->set_level(ToSpd(level));
  logger->set_pattern(Pattern());
}

void RedirectLogForTesting(std::ostream* destination) {
  std::lock_guard<std::mutex> lock(g_mu);
  auto logger = Logger();
  logger->sinks().clear();
  if (destination != nullptr) {
    logger->sinks().push_back(std::make_shared<spdlog::sinks::ostream_sink_mt>(*destination, true));
  } else {
    logger->sinks().push_back(std::make_shared<spdlog::sinks::stderr_sink_mt>());
  }
  logger->set_pattern(Pattern());  // a new sink starts with spdlog's default pattern
}

void Log(LogLevel level, std::string_view message) { Write(level, message, {}); }

void LogFields(LogLevel level, std::string_view message, std::initializer_list<LogField> fields) {
  Write(level, message, fields);
}

}  // namespace pgpilot
