// JSON to text without exceptions: bytes that are not valid UTF-8 become U+FFFD. Include only
// from .cc files that already use nlohmann/json (the header is heavy).
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace pgpilot {

inline std::string JsonText(const nlohmann::json& j, int indent = -1) {
  return j.dump(indent, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace pgpilot
