#include "cli/config_edit.h"

#include <algorithm>
#include <cstdlib>
#include <sstream>

#include "core/defaults.h"
#include "core/parameter_name.h"
#include "postgres/settings.h"

namespace pgpilot {
namespace {

constexpr const char* kParameterPrefix = "postgresql.parameters.";
constexpr const char* kAllowed =
    "pause, ttl, loop_wait, maximum_lag_on_failover, synchronous_mode, synchronous_node_count, "
    "postgresql.parameters.NAME";

std::string Trim(const std::string& text) {
  size_t begin = text.find_first_not_of(" \t\r");
  if (begin == std::string::npos) return "";
  size_t end = text.find_last_not_of(" \t\r");
  return text.substr(begin, end - begin + 1);
}

std::optional<int64_t> Integer(const std::string& text) {
  if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos || text.size() > 18) {
    return std::nullopt;
  }
  return std::strtoll(text.c_str(), nullptr, 10);
}

Error Bad(const std::string& key, const std::string& problem) {
  return InvalidArgument("setting '" + key + "' " + problem, "settings: " + std::string(kAllowed));
}

// "10", "2.5": seconds, to the millisecond.
std::optional<Duration> Seconds(const std::string& text) {
  if (text.empty() || text.find_first_not_of("0123456789.") != std::string::npos ||
      std::count(text.begin(), text.end(), '.') > 1 || text.size() > 12 || text == ".") {
    return std::nullopt;
  }
  return Duration(static_cast<int64_t>(std::strtod(text.c_str(), nullptr) * 1000.0 + 0.5));
}

// Sets a duration setting from seconds, refusing values under `minimum`.
Status SetSeconds(std::optional<Duration>* setting, const std::string& key, const std::string& value,
                  Duration minimum) {
  if (value.empty()) {
    setting->reset();
    return Status::Ok();
  }
  auto seconds = Seconds(value);
  if (!seconds || *seconds < minimum) {
    return Bad(key, "must be a number of seconds of at least " + FormatSeconds(minimum) + ", not '" + value + "'");
  }
  *setting = *seconds;
  return Status::Ok();
}

std::string SecondsText(Duration d) {
  std::string text = std::to_string(d.count() / 1000);
  if (d.count() % 1000 != 0) {
    char frac[8];
    std::snprintf(frac, sizeof frac, ".%03d", static_cast<int>(d.count() % 1000));
    text += frac;
    while (text.back() == '0') text.pop_back();
  }
  return text;
}

}  // namespace

Status SetDynamicSetting(DynamicConfig* c, const std::string& raw_key, const std::string& raw_value) {
  const std::string key = Trim(raw_key);
  const std::string value = Trim(raw_value);
  if (key == "pause") {
    if (value != "true" && value != "false" && !value.empty()) return Bad(key, "must be true or false");
    c->pause = value == "true";
  } else if (key == "ttl") {
    if (Status st = SetSeconds(&c->ttl, key, value, kMinimumTtl); !st.ok()) return st;
  } else if (key == "loop_wait") {
    if (Status st = SetSeconds(&c->loop_wait, key, value, kMinimumLoopWait); !st.ok()) return st;
  } else if (key == "maximum_lag_on_failover") {
    if (value.empty()) {
      c->maximum_lag_on_failover.reset();
    } else if (auto bytes = Integer(value)) {
      c->maximum_lag_on_failover = static_cast<uint64_t>(*bytes);
    } else {
      return Bad(key, "must be a number of bytes, not '" + value + "'");
    }
  } else if (key == "synchronous_mode") {
    if (value.empty()) {
      c->synchronous_mode.reset();
    } else if (auto mode = ParseSyncMode(value)) {
      c->synchronous_mode = mode;
    } else {
      return Bad(key, "must be off, on or strict, not '" + value + "'");
    }
  } else if (key == "synchronous_node_count") {
    auto count = Integer(value);
    if (value.empty()) {
      c->synchronous_node_count.reset();
    } else if (count && *count >= 1 && *count <= 16) {
      c->synchronous_node_count = static_cast<int>(*count);
    } else {
      return Bad(key, "must be a number from 1 to 16, not '" + value + "'");
    }
  } else if (key.rfind(kParameterPrefix, 0) == 0 && key.size() > std::string(kParameterPrefix).size()) {
    std::string name = key.substr(std::string(kParameterPrefix).size());
    if (!IsParameterName(name)) {
      return Bad(key, "does not name a PostgreSQL parameter (letters, digits and '_', or two such "
                      "names joined by '.')");
    }
    if (IsManagedParameter(name)) {
      return InvalidArgument("PostgreSQL parameter " + name + " is managed by pgpilot",
                             "it follows from the agents' config and the cluster's roles");
    }
    auto& params = c->parameters;
    params.erase(std::remove_if(params.begin(), params.end(), [&](const auto& p) { return p.first == name; }),
                 params.end());
    if (!value.empty()) params.emplace_back(name, value);
    std::sort(params.begin(), params.end());
  } else {
    return Bad(key, "is not a cluster-wide setting");
  }
  return Status::Ok();
}

Status CheckDynamicConfig(const DynamicConfig& c) {
  if (c.ttl && c.loop_wait && *c.loop_wait * 2 > *c.ttl) {
    return InvalidArgument("loop_wait " + FormatSeconds(*c.loop_wait) + " is more than half of ttl " +
                               FormatSeconds(*c.ttl) + ": the leader could not renew its lease in time",
                           "lower loop_wait or raise ttl");
  }
  return Status::Ok();
}

std::string RenderDynamicConfig(const DynamicConfig& c) {
  std::string out =
      "# Cluster-wide settings in the store; each overrides the agents' own config files.\n"
      "# One \"key: value\" per line; delete a line (or leave the value empty) to unset it.\n"
      "# Settings: " + std::string(kAllowed) + "\n";
  out += "pause: " + std::string(c.pause ? "true" : "false") + "\n";
  if (c.ttl) out += "ttl: " + SecondsText(*c.ttl) + "\n";
  if (c.loop_wait) out += "loop_wait: " + SecondsText(*c.loop_wait) + "\n";
  if (c.maximum_lag_on_failover) out += "maximum_lag_on_failover: " + std::to_string(*c.maximum_lag_on_failover) + "\n";
  if (c.synchronous_mode) out += "synchronous_mode: " + std::string(SyncModeName(*c.synchronous_mode)) + "\n";
  if (c.synchronous_node_count) out += "synchronous_node_count: " + std::to_string(*c.synchronous_node_count) + "\n";
  for (const auto& [name, value] : c.parameters) out += kParameterPrefix + name + ": " + value + "\n";
  return out;
}

Result<DynamicConfig> ParseDynamicConfig(const std::string& text) {
  DynamicConfig c;
  std::istringstream in(text);
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    std::string trimmed = Trim(line);
    if (trimmed.empty() || trimmed[0] == '#') continue;
    size_t colon = trimmed.find(':');
    if (colon == std::string::npos) {
      return InvalidArgument("line " + std::to_string(number) + " is not \"key: value\": " + trimmed);
    }
    Status s = SetDynamicSetting(&c, trimmed.substr(0, colon), trimmed.substr(colon + 1));
    if (!s.ok()) {
      Error e = s.error();
      e.message = "line " + std::to_string(number) + ": " + e.message;
      return e;
    }
  }
  return c;
}

}  // namespace pgpilot
