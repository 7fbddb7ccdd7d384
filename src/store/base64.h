// Base64 (RFC 4648, with padding), as etcd's JSON gateway encodes keys and values.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace pgpilot {

std::string Base64Encode(std::string_view bytes);
// nullopt when `text` is not valid base64.
std::optional<std::string> Base64Decode(std::string_view text);

}  // namespace pgpilot
