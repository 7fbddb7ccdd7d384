#include "core/parameter_name.h"

namespace pgpilot {
namespace {

constexpr size_t kMaxIdentifier = 63;  // PostgreSQL's NAMEDATALEN - 1

bool IsIdentifier(std::string_view text) {
  if (text.empty() || text.size() > kMaxIdentifier) return false;
  auto letter = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; };
  if (!letter(text.front())) return false;
  for (char c : text) {
    if (!letter(c) && !(c >= '0' && c <= '9')) return false;
  }
  return true;
}

}  // namespace

bool IsParameterName(std::string_view name) {
  size_t dot = name.find('.');
  if (dot == std::string_view::npos) return IsIdentifier(name);
  return IsIdentifier(name.substr(0, dot)) && IsIdentifier(name.substr(dot + 1));
}

}  // namespace pgpilot
