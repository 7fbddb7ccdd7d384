#include "core/types.h"

#include <cinttypes>
#include <cstdio>
#include <ctime>

namespace pgpilot {

std::string FormatWallTime(WallTime t) {
  std::time_t seconds = static_cast<std::time_t>(t.unix_ms / 1000);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char buf[40];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(t.unix_ms % 1000));
  return buf;
}

std::optional<WallTime> ParseWallTime(std::string_view text) {
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0, consumed = 0;
  std::string copy(text);
  if (std::sscanf(copy.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &year, &month, &day, &hour, &minute,
                  &second, &consumed) != 6) {
    return std::nullopt;
  }
  std::string_view rest = text.substr(static_cast<size_t>(consumed));
  int64_t millis = 0;
  if (!rest.empty() && rest.front() == '.') {
    rest.remove_prefix(1);
    int digits = 0;
    while (!rest.empty() && rest.front() >= '0' && rest.front() <= '9') {
      if (digits < 3) millis = millis * 10 + (rest.front() - '0');
      ++digits;
      rest.remove_prefix(1);
    }
    if (digits == 0) return std::nullopt;
    for (; digits < 3; ++digits) millis *= 10;
  }
  if (rest != "Z" || month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 ||
      second > 60) {
    return std::nullopt;
  }
  std::tm tm{};
  tm.tm_year = year - 1900;
  tm.tm_mon = month - 1;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = minute;
  tm.tm_sec = second;
  return WallTime{static_cast<int64_t>(timegm(&tm)) * 1000 + millis};
}

std::string Lsn::ToString() const {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%" PRIX32 "/%" PRIX32, static_cast<uint32_t>(value >> 32),
                static_cast<uint32_t>(value));
  return buf;
}

std::optional<Lsn> Lsn::Parse(std::string_view text) {
  size_t slash = text.find('/');
  if (slash == std::string_view::npos || slash == 0 || slash + 1 >= text.size()) return std::nullopt;
  auto parse_hex = [](std::string_view part, uint64_t* out) {
    if (part.size() > 8) return false;
    uint64_t v = 0;
    for (char c : part) {
      int digit;
      if (c >= '0' && c <= '9') digit = c - '0';
      else if (c >= 'A' && c <= 'F') digit = c - 'A' + 10;
      else if (c >= 'a' && c <= 'f') digit = c - 'a' + 10;
      else return false;
      v = v * 16 + static_cast<uint64_t>(digit);
    }
    *out = v;
    return true;
  };
  uint64_t high = 0, low = 0;
  if (!parse_hex(text.substr(0, slash), &high) || !parse_hex(text.substr(slash + 1), &low)) {
    return std::nullopt;
  }
  return Lsn{(high << 32) | low};
}

uint64_t LsnDistance(Lsn ahead, Lsn behind) {
  return ahead.value > behind.value ? ahead.value - behind.value : 0;
}

std::string FormatSeconds(Duration d) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1fs", static_cast<double>(d.count()) / 1000.0);
  return buf;
}

}  // namespace pgpilot
