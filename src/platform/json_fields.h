// Fields of JSON received from a server (etcd, the Kubernetes API), read without exceptions and
// without nlohmann's undefined behaviour (const operator[] on a missing key, value() on a
// non-object): a field that is absent or of another type reads as absent. Include only from .cc
// files that already use nlohmann/json (the header is heavy).
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace pgpilot {

// The member `key` of `j`; nullptr when `j` is not an object or has no such member.
inline const nlohmann::json* JsonMember(const nlohmann::json& j, const std::string& key) {
  if (!j.is_object()) return nullptr;
  auto it = j.find(key);
  return it == j.end() ? nullptr : &*it;
}

// The member `key` of `j` when it is a string; `fallback` otherwise.
inline std::string JsonString(const nlohmann::json& j, const std::string& key, const std::string& fallback = "") {
  const nlohmann::json* v = JsonMember(j, key);
  return v != nullptr && v->is_string() ? v->get<std::string>() : fallback;
}

// The member `key` of `j` when it is true or false; `fallback` otherwise.
inline bool JsonBool(const nlohmann::json& j, const std::string& key, bool fallback) {
  const nlohmann::json* v = JsonMember(j, key);
  return v != nullptr && v->is_boolean() ? v->get<bool>() : fallback;
}

}  // namespace pgpilot
