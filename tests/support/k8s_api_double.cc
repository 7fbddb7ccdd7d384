#include "support/k8s_api_double.h"

#include <sys/socket.h>
#include <time.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <ctime>
#include <limits>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <string_view>
#include <thread>
#include <tuple>
#include <utility>

#include "platform/http_lib.h"
#include <nlohmann/json.hpp>

#include "platform/json_text.h"
#include "store/base64.h"

namespace pgpilot::testing {
namespace {

using json = nlohmann::json;

// Above 2^32: a client that keeps resourceVersions in 32 bits breaks here as on a busy cluster.
constexpr uint64_t kFirstResourceVersion = 5'000'000'000;
constexpr size_t kMaxAnnotationBytes = 256 * 1024;
constexpr size_t kMaxConfigMapBytes = 1024 * 1024;
constexpr size_t kMaxLabelLength = 63;
constexpr size_t kMaxSubdomainLength = 253;

// ---------------------------------------------------------------------------------------------
// The kinds served.

struct ResourceType {
  std::string resource;     // in URLs: "leases"
  std::string kind;         // "Lease"
  std::string group;        // "" for the core group
  std::string api_version;  // "coordination.k8s.io/v1"
  bool replaceable;         // PUT is served
  bool delete_returns_object;  // else DELETE answers a Status

  // "leases.coordination.k8s.io", "configmaps": how the server names the resource in messages.
  std::string QualifiedResource() const {
    return group.empty() ? resource : resource + "." + group;
  }
  // "Lease.coordination.k8s.io", "ConfigMap": how validation messages name the kind.
  std::string QualifiedKind() const { return group.empty() ? kind : kind + "." + group; }
  std::string Version() const { return api_version.substr(api_version.rfind('/') + 1); }
};

const ResourceType kLeases{"leases", "Lease", "coordination.k8s.io", "coordination.k8s.io/v1",
                           true, false};
const ResourceType kConfigMaps{"configmaps", "ConfigMap", "", "v1", true, false};
const ResourceType kPods{"pods", "Pod", "", "v1", false, true};

const ResourceType* FindResourceType(std::string_view resource) {
  for (const ResourceType* type : {&kLeases, &kConfigMaps, &kPods}) {
    if (type->resource == resource) return type;
  }
  return nullptr;
}

// ---------------------------------------------------------------------------------------------
// Answers: an HTTP code and a JSON body (the object, a list, or a Status).

struct Reply {
  int code = 200;
  json body;
  std::vector<std::string> warnings;  // "Warning: 299" headers
  bool ok() const { return code < 300; }
};

Reply Failure(int code, const std::string& reason, const std::string& message,
              json details = nullptr) {
  json status = {{"kind", "Status"},      {"apiVersion", "v1"}, {"metadata", json::object()},
                 {"status", "Failure"},   {"message", message}, {"reason", reason},
                 {"code", code}};
  if (!details.is_null()) status["details"] = std::move(details);
  return Reply{code, std::move(status), {}};
}

Reply BadRequest(const std::string& message) { return Failure(400, "BadRequest", message); }

json NameDetails(const ResourceType& type, const std::string& name, const std::string& kind) {
  json details = {{"name", name}};
  if (!type.group.empty()) details["group"] = type.group;
  details["kind"] = kind;
  return details;
}

Reply NotFoundReply(const ResourceType& type, const std::string& name) {
  return Failure(404, "NotFound", type.QualifiedResource() + " \"" + name + "\" not found",
                 NameDetails(type, name, type.resource));
}

Reply AlreadyExistsReply(const ResourceType& type, const std::string& name) {
  return Failure(409, "AlreadyExists",
                 type.QualifiedResource() + " \"" + name + "\" already exists",
                 NameDetails(type, name, type.resource));
}

Reply ConflictReply(const ResourceType& type, const std::string& name, const std::string& why) {
  return Failure(409, "Conflict",
                 "Operation cannot be fulfilled on " + type.QualifiedResource() + " \"" + name +
                     "\": " + why,
                 NameDetails(type, name, type.resource));
}

Reply UnsupportedMediaType(const std::string& content_type, const std::string& accepted) {
  return Failure(415, "UnsupportedMediaType",
                 "the body of the request was in an unknown format (" + content_type +
                     ") - accepted media types include: " + accepted);
}

Reply NotImplemented(const std::string& what) {
  return BadRequest(what + " is not implemented by this test double");
}

// One complaint of validation (a 422 "cause").
struct FieldError {
  std::string reason;  // "FieldValueInvalid"
  std::string field;   // "metadata.labels"
  std::string detail;  // "Invalid value: \"x\": why"
};

std::string Quoted(const std::string& text) { return JsonText(json(text)); }

FieldError InvalidValue(const std::string& field, const std::string& quoted_value,
                        const std::string& why) {
  return {"FieldValueInvalid", field, "Invalid value: " + quoted_value + ": " + why};
}

FieldError RequiredValue(const std::string& field, const std::string& why) {
  return {"FieldValueRequired", field, "Required value: " + why};
}

FieldError TooLong(const std::string& field, size_t max_bytes) {
  return {"FieldValueTooLong", field,
          "Too long: must have at most " + std::to_string(max_bytes) + " bytes"};
}

FieldError Forbidden(const std::string& field, const std::string& why) {
  return {"FieldValueForbidden", field, "Forbidden: " + why};
}

Reply InvalidReply(const ResourceType& type, const std::string& name,
                   const std::vector<FieldError>& errors) {
  std::string listed;
  json causes = json::array();
  for (const FieldError& error : errors) {
    if (!listed.empty()) listed += ", ";
    listed += error.field + ": " + error.detail;
    causes.push_back({{"reason", error.reason}, {"message", error.detail}, {"field", error.field}});
  }
  if (errors.size() > 1) listed = "[" + listed + "]";
  json details = NameDetails(type, name, type.kind);
  details["causes"] = std::move(causes);
  return Failure(422, "Invalid", type.QualifiedKind() + " \"" + name + "\" is invalid: " + listed,
                 std::move(details));
}

// ---------------------------------------------------------------------------------------------
// Names, label keys and values, as the API server validates them.

bool IsAsciiAlnum(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; }
bool IsLowerAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

// Alphanumeric at both ends, alphanumerics and "-_." inside; not empty.
bool IsLabelWord(std::string_view text) {
  if (text.empty() || !IsAsciiAlnum(text.front()) || !IsAsciiAlnum(text.back())) return false;
  return std::all_of(text.begin(), text.end(), [](char c) {
    return IsAsciiAlnum(c) || c == '-' || c == '_' || c == '.';
  });
}

const char kSubdomainRule[] =
    "must be a lowercase RFC 1123 subdomain: lowercase alphanumerics, '-' and '.', starting and "
    "ending with an alphanumeric (e.g. 'example.com')";

std::vector<std::string> SubdomainErrors(std::string_view text) {
  std::vector<std::string> errors;
  if (text.size() > kMaxSubdomainLength) {
    errors.push_back("must be no more than " + std::to_string(kMaxSubdomainLength) +
                     " characters");
  }
  bool valid = !text.empty();
  size_t start = 0;
  while (valid && start <= text.size()) {
    size_t dot = text.find('.', start);
    std::string_view part = text.substr(start, dot == std::string_view::npos ? dot : dot - start);
    valid = !part.empty() && IsLowerAlnum(part.front()) && IsLowerAlnum(part.back()) &&
            std::all_of(part.begin(), part.end(),
                        [](char c) { return IsLowerAlnum(c) || c == '-'; });
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  if (!valid) errors.push_back(kSubdomainRule);
  return errors;
}

// A label key or annotation key: [DNS subdomain "/"] name, name at most 63 characters.
std::vector<std::string> QualifiedNameErrors(std::string_view text) {
  std::vector<std::string> errors;
  std::string_view name = text;
  size_t slash = text.find('/');
  if (slash != std::string_view::npos) {
    std::string_view prefix = text.substr(0, slash);
    name = text.substr(slash + 1);
    if (name.find('/') != std::string_view::npos) {
      errors.push_back("a qualified name is an optional DNS subdomain prefix and '/', then a name "
                       "(e.g. 'example.com/MyName'); it has at most one '/'");
      return errors;
    }
    if (prefix.empty()) {
      errors.push_back("prefix part must be non-empty");
    } else {
      for (const std::string& error : SubdomainErrors(prefix)) {
        errors.push_back("prefix part " + error);
      }
    }
  }
  if (name.empty()) {
    errors.push_back("name part must be non-empty");
  } else {
    if (name.size() > kMaxLabelLength) {
      errors.push_back("name part must be no more than 63 characters");
    }
    if (!IsLabelWord(name)) {
      errors.push_back("name part must consist of alphanumeric characters, '-', '_' or '.', and "
                       "must start and end with an alphanumeric character (e.g. 'MyName', "
                       "'my.name', '123-abc')");
    }
  }
  return errors;
}

std::vector<std::string> LabelValueErrors(std::string_view text) {
  std::vector<std::string> errors;
  if (text.size() > kMaxLabelLength) errors.push_back("must be no more than 63 characters");
  if (!text.empty() && !IsLabelWord(text)) {
    errors.push_back("a label value must be empty or consist of alphanumeric characters, '-', "
                     "'_' or '.', and must start and end with an alphanumeric character (e.g. "
                     "'MyValue', 'my_value', '12345')");
  }
  return errors;
}

std::vector<std::string> ConfigMapKeyErrors(std::string_view key) {
  std::vector<std::string> errors;
  if (key.size() > kMaxSubdomainLength) errors.push_back("must be no more than 253 characters");
  bool chars_ok = !key.empty() && std::all_of(key.begin(), key.end(), [](char c) {
    return IsAsciiAlnum(c) || c == '-' || c == '_' || c == '.';
  });
  if (!chars_ok) {
    errors.push_back("a valid config key must consist of alphanumeric characters, '-', '_' or "
                     "'.' (e.g. 'key.name', 'KEY_NAME', 'key-name')");
  }
  if (key == ".") {
    errors.push_back("must not be '.'");
  } else if (key == "..") {
    errors.push_back("must not be '..'");
  } else if (key.substr(0, 2) == "..") {
    errors.push_back("must not start with '..'");
  }
  return errors;
}

std::optional<uint64_t> ParseDecimal(std::string_view text) {
  uint64_t value = 0;
  if (text.empty()) return std::nullopt;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

std::optional<int64_t> ParseSignedDecimal(std::string_view text) {
  int64_t value = 0;
  if (text.empty()) return std::nullopt;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

// ---------------------------------------------------------------------------------------------
// Time: creationTimestamp (RFC 3339, seconds) and MicroTime ("2026-11-23T15:04:05.123456Z").

std::string FormatUtcSeconds(std::time_t seconds) {
  std::tm parts{};
  gmtime_r(&seconds, &parts);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S", &parts);
  return text;
}

std::string NowRfc3339() {
  return FormatUtcSeconds(std::chrono::system_clock::to_time_t(std::chrono::system_clock::now())) +
         "Z";
}

struct ParsedTime {
  std::time_t utc_seconds = 0;
  std::string fraction;  // the digits after the '.', maybe none
};

bool IsLeapYear(int year) { return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0; }

int DaysInMonth(int year, int month) {
  static const int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return month == 2 && IsLeapYear(year) ? 29 : kDays[month - 1];
}

// "YYYY-MM-DDTHH:MM:SS[.digits](Z|+HH:MM|-HH:MM)". `fraction_digits`: how many fractional digits
// are required, or -1 for any number (none included).
std::optional<ParsedTime> ParseTimestamp(std::string_view text, int fraction_digits) {
  auto number = [&](size_t pos, size_t count, int* out) {
    if (pos + count > text.size()) return false;
    int value = 0;
    for (size_t i = pos; i < pos + count; ++i) {
      if (text[i] < '0' || text[i] > '9') return false;
      value = value * 10 + (text[i] - '0');
    }
    *out = value;
    return true;
  };
  auto literal = [&](size_t pos, char c) { return pos < text.size() && text[pos] == c; };
  int year, month, day, hour, minute, second;
  if (!number(0, 4, &year) || !literal(4, '-') || !number(5, 2, &month) || !literal(7, '-') ||
      !number(8, 2, &day) || !literal(10, 'T') || !number(11, 2, &hour) || !literal(13, ':') ||
      !number(14, 2, &minute) || !literal(16, ':') || !number(17, 2, &second)) {
    return std::nullopt;
  }
  ParsedTime parsed;
  size_t pos = 19;
  if (literal(pos, '.')) {
    ++pos;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
      parsed.fraction += text[pos++];
    }
    if (parsed.fraction.empty()) return std::nullopt;
  }
  if (fraction_digits >= 0 && parsed.fraction.size() != static_cast<size_t>(fraction_digits)) {
    return std::nullopt;
  }
  int offset_seconds = 0;
  if (literal(pos, 'Z') && pos + 1 == text.size()) {
    // UTC
  } else if ((literal(pos, '+') || literal(pos, '-')) && pos + 6 == text.size()) {
    int offset_hours, offset_minutes;
    if (!number(pos + 1, 2, &offset_hours) || !literal(pos + 3, ':') ||
        !number(pos + 4, 2, &offset_minutes) || offset_hours > 23 || offset_minutes > 59) {
      return std::nullopt;
    }
    offset_seconds = (offset_hours * 3600 + offset_minutes * 60) * (text[pos] == '-' ? -1 : 1);
  } else {
    return std::nullopt;
  }
  if (month < 1 || month > 12 || day < 1 || day > DaysInMonth(year, month) || hour > 23 ||
      minute > 59 || second > 59) {
    return std::nullopt;
  }
  std::tm parts{};
  parts.tm_year = year - 1900;
  parts.tm_mon = month - 1;
  parts.tm_mday = day;
  parts.tm_hour = hour;
  parts.tm_min = minute;
  parts.tm_sec = second;
  parsed.utc_seconds = timegm(&parts) - offset_seconds;
  return parsed;
}

// ---------------------------------------------------------------------------------------------
// Identities.

std::mt19937_64& RandomBits() {
  thread_local std::mt19937_64 bits(std::random_device{}());
  return bits;
}

// A random (version 4) UUID: "1b4e28ba-2fa1-41d2-883f-0016d3cca427".
std::string NewUid() {
  uint64_t high = RandomBits()();
  uint64_t low = RandomBits()();
  high = (high & ~0xF000ULL) | 0x4000ULL;                    // version 4
  low = (low & ~(0xC000ULL << 48)) | (0x8000ULL << 48);      // RFC 4122 variant
  char text[37];
  std::snprintf(text, sizeof text, "%08x-%04x-%04x-%04x-%012llx",
                static_cast<unsigned>(high >> 32), static_cast<unsigned>((high >> 16) & 0xFFFF),
                static_cast<unsigned>(high & 0xFFFF), static_cast<unsigned>(low >> 48),
                static_cast<unsigned long long>(low & 0xFFFFFFFFFFFFULL));
  return text;
}

// Five characters for metadata.generateName, from the API server's alphabet (no vowels).
std::string GeneratedNameSuffix() {
  static const char kAlphabet[] = "bcdfghjklmnpqrstvwxz2456789";
  std::string suffix;
  for (int i = 0; i < 5; ++i) suffix += kAlphabet[RandomBits()() % (sizeof kAlphabet - 1)];
  return suffix;
}

// ---------------------------------------------------------------------------------------------
// Decoding: request JSON to the stored form, with the complaints of a typed (Go) decoder.

std::string JsonTypeName(const json& value) {
  if (value.is_string()) return "string";
  if (value.is_boolean()) return "bool";
  if (value.is_number()) return "number";
  if (value.is_array()) return "array";
  if (value.is_object()) return "object";
  return "null";
}

class Decoder {
 public:
  bool failed() const { return !error_.empty(); }
  const std::string& error() const { return error_; }
  const std::vector<std::string>& unknown_fields() const { return unknown_fields_; }

  void Fail(const std::string& message) {
    if (error_.empty()) error_ = message;
  }
  void WrongType(const json& value, const std::string& owner, const std::string& path,
                 const std::string& go_type) {
    std::string what = JsonTypeName(value);
    if (value.is_number()) what += " " + value.dump();
    Fail("json: cannot unmarshal " + what + " into Go struct field " + owner + "." + path +
         " of type " + go_type);
  }
  void Unknown(const std::string& path) { unknown_fields_.push_back(path); }

  // A string field; kept when not empty, or always with `keep_empty` (a pointer field).
  void String(const json& value, const std::string& owner, const std::string& path,
              const std::string& key, json& out, bool keep_empty = false) {
    if (value.is_null()) return;
    if (!value.is_string()) return WrongType(value, owner, path, "string");
    if (keep_empty || !value.get_ref<const std::string&>().empty()) out[key] = value;
  }

  void Integer(const json& value, const std::string& owner, const std::string& path,
               const std::string& key, json& out, bool is_32_bits) {
    if (value.is_null()) return;
    const std::string go_type = is_32_bits ? "int32" : "int64";
    if (!value.is_number_integer()) return WrongType(value, owner, path, go_type);
    const int64_t low = is_32_bits ? std::numeric_limits<int32_t>::min()
                                   : std::numeric_limits<int64_t>::min();
    const int64_t high = is_32_bits ? std::numeric_limits<int32_t>::max()
                                    : std::numeric_limits<int64_t>::max();
    if (value.is_number_unsigned() && value.get<uint64_t>() > static_cast<uint64_t>(high)) {
      return WrongType(value, owner, path, go_type);
    }
    int64_t number = value.get<int64_t>();
    if (number < low || number > high) return WrongType(value, owner, path, go_type);
    out[key] = number;
  }

  void Boolean(const json& value, const std::string& owner, const std::string& path,
               const std::string& key, json& out) {
    if (value.is_null()) return;
    if (!value.is_boolean()) return WrongType(value, owner, path, "bool");
    out[key] = value;
  }

  // map[string]string: kept when not empty.
  void StringMap(const json& value, const std::string& owner, const std::string& path,
                 const std::string& key, json& out) {
    if (value.is_null()) return;
    if (!value.is_object()) return WrongType(value, owner, path, "map[string]string");
    json map = json::object();
    for (const auto& [name, item] : value.items()) {
      if (item.is_null()) {
        map[name] = "";
      } else if (!item.is_string()) {
        return WrongType(item, owner, path, "string");
      } else {
        map[name] = item;
      }
    }
    if (!map.empty()) out[key] = std::move(map);
  }

  // A Time or MicroTime string, normalized to UTC.
  void Timestamp(const json& value, const std::string& owner, const std::string& path,
                 const std::string& key, json& out, bool micro) {
    if (value.is_null()) return;
    if (!value.is_string()) {
      return WrongType(value, owner, path, micro ? "v1.MicroTime" : "v1.Time");
    }
    const std::string& text = value.get_ref<const std::string&>();
    if (text.empty()) return;
    auto parsed = ParseTimestamp(text, micro ? 6 : -1);
    if (!parsed) {
      return Fail("parsing time " + Quoted(text) + " (" + path + "): " +
                  (micro ? "a MicroTime must look like \"2026-11-23T15:04:05.123456Z\" (six "
                           "fractional digits, then Z or a numeric offset)"
                         : "a Time must be RFC 3339, like \"2026-11-23T15:04:05Z\""));
    }
    out[key] = FormatUtcSeconds(parsed->utc_seconds) +
               (micro ? "." + parsed->fraction : std::string()) + "Z";
  }

  json ObjectMeta(const json& in) {
    json out = json::object();
    if (in.is_null()) return out;
    if (!in.is_object()) {
      WrongType(in, "ObjectMeta", "metadata", "v1.ObjectMeta");
      return out;
    }
    for (const auto& [key, value] : in.items()) {
      const std::string path = "metadata." + key;
      if (key == "name" || key == "generateName" || key == "namespace" || key == "selfLink" ||
          key == "uid" || key == "resourceVersion") {
        String(value, "ObjectMeta", path, key, out);
      } else if (key == "labels" || key == "annotations") {
        StringMap(value, "ObjectMeta", path, key, out);
      } else if (key == "creationTimestamp" || key == "deletionTimestamp") {
        Timestamp(value, "ObjectMeta", path, key, out, false);
      } else if (key == "generation" || key == "deletionGracePeriodSeconds") {
        json ignored = json::object();  // the server keeps these itself (here: not at all)
        Integer(value, "ObjectMeta", path, key, ignored, false);
      } else if (key == "finalizers") {
        if (value.is_null()) continue;
        if (!value.is_array()) {
          WrongType(value, "ObjectMeta", path, "[]string");
          continue;
        }
        for (const json& item : value) {
          if (!item.is_string()) WrongType(item, "ObjectMeta", path, "string");
        }
        if (!value.empty()) out[key] = value;
      } else if (key == "ownerReferences" || key == "managedFields") {
        if (value.is_null()) continue;
        if (!value.is_array()) {
          WrongType(value, "ObjectMeta", path, "[]v1.ManagedFieldsEntry");
          continue;
        }
        if (key == "ownerReferences" && !value.empty()) out[key] = value;
      } else {
        Unknown(path);
      }
    }
    return out;
  }

  json LeaseSpec(const json& in) {
    json out = json::object();
    if (in.is_null()) return out;
    if (!in.is_object()) {
      WrongType(in, "Lease", "spec", "v1.LeaseSpec");
      return out;
    }
    for (const auto& [key, value] : in.items()) {
      const std::string path = "spec." + key;
      if (key == "holderIdentity" || key == "strategy" || key == "preferredHolder") {
        String(value, "LeaseSpec", path, key, out, /*keep_empty=*/true);
      } else if (key == "leaseDurationSeconds" || key == "leaseTransitions") {
        Integer(value, "LeaseSpec", path, key, out, /*is_32_bits=*/true);
      } else if (key == "acquireTime" || key == "renewTime") {
        Timestamp(value, "LeaseSpec", path, key, out, /*micro=*/true);
      } else {
        Unknown(path);
      }
    }
    return out;
  }

  // binaryData: base64 strings.
  void BinaryMap(const json& value, const std::string& key, json& out) {
    if (value.is_null()) return;
    if (!value.is_object()) return WrongType(value, "ConfigMap", key, "map[string][]uint8");
    json map = json::object();
    for (const auto& [name, item] : value.items()) {
      if (item.is_null()) {
        map[name] = "";
        continue;
      }
      if (!item.is_string()) return WrongType(item, "ConfigMap", key, "[]uint8");
      if (!Base64Decode(item.get_ref<const std::string&>())) {
        return Fail("illegal base64 data in ConfigMap.binaryData[" + Quoted(name) + "]");
      }
      map[name] = item;
    }
    if (!map.empty()) out[key] = std::move(map);
  }

 private:
  std::string error_;
  std::vector<std::string> unknown_fields_;
};

// Decodes `body`, the JSON of a `type` object, into its stored form: fields of the wrong type
// fail (400), unknown fields are dropped with a warning, nulls and empty optional fields vanish.
// Returns the failure, or nothing with `object` and `warnings` set.
std::optional<Reply> DecodeObject(const ResourceType& type, const json& body, json* object,
                                  std::vector<std::string>* warnings) {
  const std::string cannot_handle =
      type.kind + " in version " + Quoted(type.Version()) + " cannot be handled as a " + type.kind +
      ": ";
  if (!body.is_object()) {
    return BadRequest(cannot_handle + "json: cannot unmarshal " + JsonTypeName(body) +
                      " into Go value of type " + type.Version() + "." + type.kind);
  }
  for (const char* key : {"kind", "apiVersion"}) {
    const json* value = body.contains(key) ? &body.at(key) : nullptr;
    if (value == nullptr || value->is_null()) continue;
    if (!value->is_string()) {
      return BadRequest(cannot_handle + "json: cannot unmarshal " + JsonTypeName(*value) +
                        " into Go struct field " + key + " of type string");
    }
    const std::string& given = value->get_ref<const std::string&>();
    const std::string& expected = std::string(key) == "kind" ? type.kind : type.api_version;
    if (!given.empty() && given != expected) {
      return BadRequest("the object provided is unrecognized (must be of type " + type.kind +
                        "): " + key + " " + Quoted(given) + ", want " + Quoted(expected));
    }
  }

  Decoder decoder;
  json out = {{"kind", type.kind}, {"apiVersion", type.api_version}};
  json metadata = json::object();
  json spec = json::object();
  for (const auto& [key, value] : body.items()) {
    if (key == "kind" || key == "apiVersion") continue;
    if (key == "metadata") {
      metadata = decoder.ObjectMeta(value);
    } else if (&type == &kLeases) {
      if (key == "spec") {
        spec = decoder.LeaseSpec(value);
      } else {
        decoder.Unknown(key);
      }
    } else if (&type == &kConfigMaps) {
      if (key == "data") {
        decoder.StringMap(value, "ConfigMap", key, key, out);
      } else if (key == "binaryData") {
        decoder.BinaryMap(value, key, out);
      } else if (key == "immutable") {
        decoder.Boolean(value, "ConfigMap", key, key, out);
      } else {
        decoder.Unknown(key);
      }
    } else if (!value.is_null()) {  // pods: everything but metadata is kept as given
      out[key] = value;
    }
  }
  if (decoder.failed()) return BadRequest(cannot_handle + decoder.error());
  out["metadata"] = std::move(metadata);
  if (&type == &kLeases) out["spec"] = std::move(spec);
  *object = std::move(out);
  warnings->clear();
  for (const std::string& path : decoder.unknown_fields()) {
    warnings->push_back("unknown field " + Quoted(path));
  }
  return std::nullopt;
}

// ---------------------------------------------------------------------------------------------
// Validation (422): what a decoded object must satisfy to be stored. `old`: the stored object an
// update replaces, or null for a create.

std::vector<FieldError> ValidateObject(const ResourceType& type, const json& object,
                                       const json* old) {
  std::vector<FieldError> errors;
  const json& metadata = object.at("metadata");
  const std::string name = metadata.value("name", "");
  if (name.empty()) {
    errors.push_back(RequiredValue("metadata.name", "name or generateName is required"));
  } else {
    for (const std::string& why : SubdomainErrors(name)) {
      errors.push_back(InvalidValue("metadata.name", Quoted(name), why));
    }
  }
  if (metadata.contains("labels")) {
    for (const auto& [key, value] : metadata.at("labels").items()) {
      for (const std::string& why : QualifiedNameErrors(key)) {
        errors.push_back(InvalidValue("metadata.labels", Quoted(key), why));
      }
      const std::string& text = value.get_ref<const std::string&>();
      for (const std::string& why : LabelValueErrors(text)) {
        errors.push_back(InvalidValue("metadata.labels", Quoted(text), why));
      }
    }
  }
  if (metadata.contains("annotations")) {
    size_t total = 0;
    for (const auto& [key, value] : metadata.at("annotations").items()) {
      std::string lowered = key;
      std::transform(lowered.begin(), lowered.end(), lowered.begin(),
                     [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
      for (const std::string& why : QualifiedNameErrors(lowered)) {
        errors.push_back(InvalidValue("metadata.annotations", Quoted(key), why));
      }
      total += key.size() + value.get_ref<const std::string&>().size();
    }
    if (total > kMaxAnnotationBytes) {
      errors.push_back(TooLong("metadata.annotations", kMaxAnnotationBytes));
    }
  }

  if (&type == &kLeases) {
    const json& spec = object.at("spec");
    if (spec.contains("leaseDurationSeconds") &&
        spec.at("leaseDurationSeconds").get<int64_t>() <= 0) {
      errors.push_back(InvalidValue("spec.leaseDurationSeconds",
                                    spec.at("leaseDurationSeconds").dump(),
                                    "must be greater than 0"));
    }
    if (spec.contains("leaseTransitions") && spec.at("leaseTransitions").get<int64_t>() < 0) {
      errors.push_back(InvalidValue("spec.leaseTransitions", spec.at("leaseTransitions").dump(),
                                    "must be greater than or equal to 0"));
    }
  } else if (&type == &kConfigMaps) {
    size_t total = 0;
    const json empty = json::object();
    const json& data = object.contains("data") ? object.at("data") : empty;
    const json& binary = object.contains("binaryData") ? object.at("binaryData") : empty;
    for (const auto& [key, value] : data.items()) {
      for (const std::string& why : ConfigMapKeyErrors(key)) {
        errors.push_back(InvalidValue("data[" + key + "]", Quoted(key), why));
      }
      if (binary.contains(key)) {
        errors.push_back(InvalidValue("data[" + key + "]", Quoted(key),
                                      "duplicate of key present in binaryData"));
      }
      total += key.size() + value.get_ref<const std::string&>().size();
    }
    for (const auto& [key, value] : binary.items()) {
      for (const std::string& why : ConfigMapKeyErrors(key)) {
        errors.push_back(InvalidValue("binaryData[" + key + "]", Quoted(key), why));
      }
      total += key.size() + Base64Decode(value.get_ref<const std::string&>()).value_or("").size();
    }
    if (total > kMaxConfigMapBytes) errors.push_back(TooLong("data", kMaxConfigMapBytes));
    if (old != nullptr && old->value("immutable", false)) {
      if (!object.value("immutable", false)) {
        errors.push_back(Forbidden("immutable", "field is immutable when `immutable` is set"));
      }
      if (data != old->value("data", json::object()) ||
          binary != old->value("binaryData", json::object())) {
        errors.push_back(Forbidden("data", "field is immutable when `immutable` is set"));
      }
    }
  }
  return errors;
}

// ---------------------------------------------------------------------------------------------
// Label selectors: "a=b,c!=d,e,!f,g in (h,i),j notin (k),l>3".

enum class SelectorOp { kEquals, kNotEquals, kIn, kNotIn, kExists, kDoesNotExist, kGreater, kLess };

struct Requirement {
  std::string key;
  SelectorOp op = SelectorOp::kExists;
  std::vector<std::string> values;

  bool Matches(const json& labels) const {
    const bool has = labels.is_object() && labels.contains(key);
    const std::string value = has ? labels.at(key).get<std::string>() : std::string();
    auto listed = [&] { return std::find(values.begin(), values.end(), value) != values.end(); };
    switch (op) {
      case SelectorOp::kEquals:
      case SelectorOp::kIn: return has && listed();
      case SelectorOp::kNotEquals:
      case SelectorOp::kNotIn: return !has || !listed();
      case SelectorOp::kExists: return has;
      case SelectorOp::kDoesNotExist: return !has;
      case SelectorOp::kGreater:
      case SelectorOp::kLess: {
        auto actual = has ? ParseSignedDecimal(value) : std::nullopt;
        auto bound = ParseSignedDecimal(values.front());
        if (!actual || !bound) return false;
        return op == SelectorOp::kGreater ? *actual > *bound : *actual < *bound;
      }
    }
    return false;
  }
};

struct LabelSelector {
  std::vector<Requirement> requirements;  // all must hold; none: everything matches

  bool Matches(const json& labels) const {
    return std::all_of(requirements.begin(), requirements.end(),
                       [&](const Requirement& r) { return r.Matches(labels); });
  }
};

enum class TokenKind {
  kWord, kEnd, kComma, kOpen, kClose, kBang, kEquals, kDoubleEquals, kNotEquals, kIn, kNotIn,
  kGreater, kLess,
};

struct Token {
  TokenKind kind;
  std::string text;
};

std::vector<Token> TokenizeSelector(std::string_view text) {
  std::vector<Token> tokens;
  size_t i = 0;
  const std::string_view kSpecial = "!=,()<>";
  while (i < text.size()) {
    char c = text[i];
    if (std::isspace(static_cast<unsigned char>(c))) {
      ++i;
    } else if (c == ',') {
      tokens.push_back({TokenKind::kComma, ","}), ++i;
    } else if (c == '(') {
      tokens.push_back({TokenKind::kOpen, "("}), ++i;
    } else if (c == ')') {
      tokens.push_back({TokenKind::kClose, ")"}), ++i;
    } else if (c == '<') {
      tokens.push_back({TokenKind::kLess, "<"}), ++i;
    } else if (c == '>') {
      tokens.push_back({TokenKind::kGreater, ">"}), ++i;
    } else if (c == '!' && i + 1 < text.size() && text[i + 1] == '=') {
      tokens.push_back({TokenKind::kNotEquals, "!="}), i += 2;
    } else if (c == '!') {
      tokens.push_back({TokenKind::kBang, "!"}), ++i;
    } else if (c == '=' && i + 1 < text.size() && text[i + 1] == '=') {
      tokens.push_back({TokenKind::kDoubleEquals, "=="}), i += 2;
    } else if (c == '=') {
      tokens.push_back({TokenKind::kEquals, "="}), ++i;
    } else {
      size_t start = i;
      while (i < text.size() && !std::isspace(static_cast<unsigned char>(text[i])) &&
             kSpecial.find(text[i]) == std::string_view::npos) {
        ++i;
      }
      std::string word(text.substr(start, i - start));
      TokenKind kind = word == "in" ? TokenKind::kIn : word == "notin" ? TokenKind::kNotIn
                                                                        : TokenKind::kWord;
      tokens.push_back({kind, std::move(word)});
    }
  }
  tokens.push_back({TokenKind::kEnd, ""});
  return tokens;
}

Result<LabelSelector> ParseLabelSelector(std::string_view text) {
  const std::vector<Token> tokens = TokenizeSelector(text);
  size_t pos = 0;
  auto fail = [&](const std::string& why) -> Error {
    return InvalidArgument("unable to parse labelSelector " + Quoted(std::string(text)) + ": " +
                           why);
  };
  auto found = [&](const std::string& expected) {
    return "found '" + tokens[pos].text + "', expected: " + expected;
  };
  LabelSelector selector;
  if (tokens[0].kind == TokenKind::kEnd) return selector;
  while (true) {
    Requirement requirement;
    bool negated = tokens[pos].kind == TokenKind::kBang;
    if (negated) ++pos;
    if (tokens[pos].kind != TokenKind::kWord) {
      return fail(found(negated ? "identifier" : "!, identifier"));
    }
    requirement.key = tokens[pos++].text;
    const TokenKind next = tokens[pos].kind;
    if (negated) {
      requirement.op = SelectorOp::kDoesNotExist;
    } else if (next == TokenKind::kEnd || next == TokenKind::kComma) {
      requirement.op = SelectorOp::kExists;
    } else if (next == TokenKind::kIn || next == TokenKind::kNotIn) {
      requirement.op = next == TokenKind::kIn ? SelectorOp::kIn : SelectorOp::kNotIn;
      ++pos;
      if (tokens[pos].kind != TokenKind::kOpen) return fail(found("'('"));
      ++pos;
      // Values separated by commas; an empty place is the empty value, as in "in (a,)".
      std::string value;
      while (true) {
        if (tokens[pos].kind == TokenKind::kWord) {
          value = tokens[pos++].text;
        }
        if (tokens[pos].kind == TokenKind::kComma) {
          requirement.values.push_back(value), value.clear(), ++pos;
        } else if (tokens[pos].kind == TokenKind::kClose) {
          requirement.values.push_back(value), ++pos;
          break;
        } else {
          return fail(found("',' or ')'"));
        }
      }
    } else {
      switch (next) {
        case TokenKind::kEquals:
        case TokenKind::kDoubleEquals: requirement.op = SelectorOp::kEquals; break;
        case TokenKind::kNotEquals: requirement.op = SelectorOp::kNotEquals; break;
        case TokenKind::kGreater: requirement.op = SelectorOp::kGreater; break;
        case TokenKind::kLess: requirement.op = SelectorOp::kLess; break;
        default: return fail(found("in, notin, =, ==, !=, >, <"));
      }
      ++pos;
      if (tokens[pos].kind == TokenKind::kWord) {
        requirement.values.push_back(tokens[pos++].text);
      } else if (tokens[pos].kind == TokenKind::kEnd || tokens[pos].kind == TokenKind::kComma) {
        requirement.values.push_back("");
      } else {
        return fail(found("identifier"));
      }
    }
    for (const std::string& why : QualifiedNameErrors(requirement.key)) {
      return fail("invalid label key " + Quoted(requirement.key) + ": " + why);
    }
    for (const std::string& value : requirement.values) {
      for (const std::string& why : LabelValueErrors(value)) {
        return fail("invalid label value " + Quoted(value) + ": " + why);
      }
    }
    if ((requirement.op == SelectorOp::kGreater || requirement.op == SelectorOp::kLess) &&
        !ParseSignedDecimal(requirement.values.front())) {
      return fail("for '>' and '<' the value must be an integer");
    }
    selector.requirements.push_back(std::move(requirement));
    if (tokens[pos].kind == TokenKind::kEnd) break;
    if (tokens[pos].kind != TokenKind::kComma) return fail(found("',' or 'end of string'"));
    ++pos;
  }
  return selector;
}

// ---------------------------------------------------------------------------------------------
// JSON merge patch (RFC 7386).

json MergePatch(json target, const json& patch) {
  if (!patch.is_object()) return patch;
  if (!target.is_object()) target = json::object();
  for (const auto& [key, value] : patch.items()) {
    if (value.is_null()) {
      target.erase(key);
    } else {
      json current = target.contains(key) ? std::move(target[key]) : json();
      target[key] = MergePatch(std::move(current), value);
    }
  }
  return target;
}

// ---------------------------------------------------------------------------------------------
// HTTP plumbing.

// Where a request goes: a collection (empty name) or one object.
struct ApiPath {
  const ResourceType* type = nullptr;
  std::string ns;
  std::string name;
};

std::optional<ApiPath> ParseApiPath(const std::string& path) {
  std::vector<std::string> parts;
  size_t start = 1;
  if (path.empty() || path[0] != '/') return std::nullopt;
  while (start <= path.size()) {
    size_t slash = path.find('/', start);
    if (slash == std::string::npos) slash = path.size();
    parts.push_back(path.substr(start, slash - start));
    start = slash + 1;
  }
  size_t first = 0;
  std::string group;
  if (parts.size() >= 2 && parts[0] == "api" && parts[1] == "v1") {
    first = 2;
  } else if (parts.size() >= 3 && parts[0] == "apis" && parts[2] == "v1") {
    group = parts[1];
    first = 3;
  } else {
    return std::nullopt;
  }
  size_t count = parts.size() - first;
  if ((count != 3 && count != 4) || parts[first] != "namespaces" || parts[first + 1].empty()) {
    return std::nullopt;
  }
  const ResourceType* type = FindResourceType(parts[first + 2]);
  if (type == nullptr || type->group != group) return std::nullopt;
  ApiPath api_path{type, parts[first + 1], count == 4 ? parts[first + 3] : ""};
  if (count == 4 && api_path.name.empty()) return std::nullopt;
  return api_path;
}

// "application/json; charset=utf-8" -> "application/json".
std::string MediaType(const httplib::Request& request) {
  std::string value = request.get_header_value("Content-Type");
  value = value.substr(0, value.find(';'));
  value.erase(std::remove_if(value.begin(), value.end(),
                             [](unsigned char c) { return std::isspace(c) != 0; }),
              value.end());
  std::transform(value.begin(), value.end(), value.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return value;
}

bool IsTrue(const std::string& value) { return value == "1" || value == "true"; }

const char kJsonOnly[] = "application/json (this test double speaks JSON only)";

Error ErrorOf(const Reply& reply) {
  std::string message = reply.body.is_object() && reply.body.contains("message")
                            ? reply.body.at("message").get<std::string>()
                            : "HTTP " + std::to_string(reply.code);
  switch (reply.code) {
    case 400:
    case 422: return InvalidArgument(message);
    case 401: return PermissionDenied(message);
    case 404: return NotFound(message);
    case 409: return FailedPrecondition(message);
    default: return Internal(message);
  }
}

}  // namespace

// =============================================================================================

class KubernetesApiDouble::Impl {
 public:
  explicit Impl(Options options) : options_(std::move(options)) {}
  ~Impl() { (void)Stop(); }

  // Object operations, as the HTTP verbs do them; each takes the store's mutex.
  Reply CreateObject(const ResourceType& type, const std::string& ns, const json& body);
  Reply GetObject(const ResourceType& type, const std::string& ns, const std::string& name) const;
  Reply ListObjects(const ResourceType& type, const std::string& ns, const std::string& selector,
                    int64_t limit, const std::string& continue_token) const;
  Reply ReplaceObject(const ResourceType& type, const std::string& ns, const std::string& name,
                      const json& body);
  Reply PatchObject(const ResourceType& type, const std::string& ns, const std::string& name,
                    const json& patch);
  Reply DeleteObject(const ResourceType& type, const std::string& ns, const std::string& name,
                     const json& delete_options);

  Status Listen(int port);  // 0: any free port
  Status Stop();
  Status Restart();
  void SetPaused(bool paused);
  bool paused() const;
  bool running() const;
  int port() const { return port_.load(); }
  int RequestCount(const std::string& method, const std::string& path_prefix) const;

 private:
  using ObjectKey = std::tuple<std::string, std::string, std::string>;  // resource, ns, name

  // Handles one HTTP request (on a server thread).
  void Serve(const httplib::Request& request, httplib::Response& response);
  Reply Route(const httplib::Request& request);
  Reply RouteCollection(const ApiPath& path, const httplib::Request& request);
  Reply RouteObject(const ApiPath& path, const httplib::Request& request);
  bool Authorized(const httplib::Request& request) const;
  // Blocks while paused; false when the server stopped meanwhile.
  bool WaitWhilePaused();
  Status ListenLocked(int port);
  void StopLocked();

  // The update shared by PUT and PATCH, with the store's mutex held: preconditions, validation,
  // and a write unless nothing changed.
  Reply CommitUpdateLocked(const ResourceType& type, const ObjectKey& key, json candidate,
                           std::vector<std::string> warnings, bool uid_is_precondition);
  std::string NextResourceVersionLocked() { return std::to_string(++resource_version_); }

  const Options options_;

  mutable std::mutex objects_mutex_;  // guards objects_ and resource_version_
  std::map<ObjectKey, json> objects_;
  uint64_t resource_version_ = kFirstResourceVersion;

  std::mutex lifecycle_mutex_;  // one Listen/Stop at a time; guards server_ and listen_thread_
  std::unique_ptr<httplib::Server> server_;
  std::thread listen_thread_;
  std::atomic<int> port_{0};

  mutable std::mutex pause_mutex_;  // guards the three below
  std::condition_variable pause_cv_;
  bool paused_ = false;
  bool serving_ = false;
  uint64_t stops_ = 0;  // every stop releases the requests paused before it

  mutable std::mutex requests_mutex_;
  std::vector<std::pair<std::string, std::string>> requests_;  // method, path
};

// ---- objects ---------------------------------------------------------------------------------

Reply KubernetesApiDouble::Impl::CreateObject(const ResourceType& type, const std::string& ns,
                                              const json& body) {
  json object;
  std::vector<std::string> warnings;
  if (auto failure = DecodeObject(type, body, &object, &warnings)) return *failure;
  json& metadata = object["metadata"];
  if (metadata.value("namespace", ns) != ns) {
    return BadRequest("the namespace of the provided object does not match the namespace sent on "
                      "the request");
  }
  metadata["namespace"] = ns;
  if (!metadata.contains("name") && metadata.contains("generateName")) {
    metadata["name"] = metadata["generateName"].get<std::string>() + GeneratedNameSuffix();
  }
  const std::string name = metadata.value("name", "");
  std::vector<FieldError> errors = ValidateObject(type, object, nullptr);
  if (!errors.empty()) return InvalidReply(type, name, errors);
  auto given_version = ParseDecimal(metadata.value("resourceVersion", ""));
  if (given_version && *given_version != 0) {
    const std::string why = "resourceVersion should not be set on objects to be created";
    json cause = json::object();
    cause["message"] = why;
    json details = json::object();
    details["causes"] = json::array();
    details["causes"].push_back(std::move(cause));
    return Failure(500, "InternalError", "Internal error occurred: " + why, std::move(details));
  }
  metadata.erase("deletionTimestamp");
  metadata["uid"] = NewUid();
  metadata["creationTimestamp"] = NowRfc3339();

  std::lock_guard lock(objects_mutex_);
  ObjectKey key{type.resource, ns, name};
  if (objects_.count(key) != 0) return AlreadyExistsReply(type, name);
  metadata["resourceVersion"] = NextResourceVersionLocked();
  objects_[key] = object;
  return Reply{201, std::move(object), std::move(warnings)};
}

Reply KubernetesApiDouble::Impl::GetObject(const ResourceType& type, const std::string& ns,
                                           const std::string& name) const {
  std::lock_guard lock(objects_mutex_);
  auto found = objects_.find({type.resource, ns, name});
  if (found == objects_.end()) return NotFoundReply(type, name);
  return Reply{200, found->second, {}};
}

Reply KubernetesApiDouble::Impl::ListObjects(const ResourceType& type, const std::string& ns,
                                             const std::string& selector_text, int64_t limit,
                                             const std::string& continue_token) const {
  auto selector = ParseLabelSelector(selector_text);
  if (!selector.ok()) return BadRequest(selector.error().message);
  std::string start_after;
  if (!continue_token.empty()) {
    auto decoded = Base64Decode(continue_token);
    if (!decoded || decoded->rfind("after:", 0) != 0) {
      return BadRequest("continue key is not valid: " + continue_token);
    }
    start_after = decoded->substr(6);
  }
  json items = json::array();
  json metadata = json::object();
  std::lock_guard lock(objects_mutex_);
  for (auto it = objects_.upper_bound({type.resource, ns, start_after});
       it != objects_.end() && std::get<0>(it->first) == type.resource &&
       std::get<1>(it->first) == ns;
       ++it) {
    const json& object = it->second;
    if (!selector->Matches(object.at("metadata").value("labels", json::object()))) continue;
    if (limit > 0 && static_cast<int64_t>(items.size()) == limit) {
      // One more matches: say where to go on, and roughly how much is left.
      int64_t remaining = 0;
      for (auto rest = it; rest != objects_.end() && std::get<0>(rest->first) == type.resource &&
                           std::get<1>(rest->first) == ns;
           ++rest) {
        if (selector->Matches(rest->second.at("metadata").value("labels", json::object()))) {
          ++remaining;
        }
      }
      metadata["continue"] =
          Base64Encode("after:" + items.back().at("metadata").at("name").get<std::string>());
      metadata["remainingItemCount"] = remaining;
      break;
    }
    json item = object;
    item.erase("kind");  // items of a typed list carry neither
    item.erase("apiVersion");
    items.push_back(std::move(item));
  }
  metadata["resourceVersion"] = std::to_string(resource_version_);
  json list = {{"kind", type.kind + "List"},
               {"apiVersion", type.api_version},
               {"metadata", std::move(metadata)},
               {"items", std::move(items)}};
  return Reply{200, std::move(list), {}};
}

Reply KubernetesApiDouble::Impl::ReplaceObject(const ResourceType& type, const std::string& ns,
                                               const std::string& name, const json& body) {
  json object;
  std::vector<std::string> warnings;
  if (auto failure = DecodeObject(type, body, &object, &warnings)) return *failure;
  const json& metadata = object.at("metadata");
  const std::string body_name = metadata.value("name", "");
  if (body_name != name) {
    return BadRequest("the name of the object (" + body_name +
                      ") does not match the name on the URL (" + name + ")");
  }
  if (metadata.value("namespace", ns) != ns) {
    return BadRequest("the namespace of the provided object does not match the namespace sent on "
                      "the request");
  }
  std::lock_guard lock(objects_mutex_);
  ObjectKey key{type.resource, ns, name};
  if (objects_.count(key) == 0) return NotFoundReply(type, name);
  return CommitUpdateLocked(type, key, std::move(object), std::move(warnings),
                            /*uid_is_precondition=*/true);
}

Reply KubernetesApiDouble::Impl::PatchObject(const ResourceType& type, const std::string& ns,
                                             const std::string& name, const json& patch) {
  std::lock_guard lock(objects_mutex_);
  ObjectKey key{type.resource, ns, name};
  auto found = objects_.find(key);
  if (found == objects_.end()) return NotFoundReply(type, name);
  json object;
  std::vector<std::string> warnings;
  if (auto failure = DecodeObject(type, MergePatch(found->second, patch), &object, &warnings)) {
    return *failure;
  }
  const json& metadata = object.at("metadata");
  const std::string patched_name = metadata.value("name", "");
  if (patched_name != name) {
    return BadRequest("the name of the object (" + patched_name +
                      ") does not match the name on the URL (" + name + ")");
  }
  if (metadata.value("namespace", ns) != ns) {
    return BadRequest("the namespace of the object (" + metadata.value("namespace", "") +
                      ") does not match the namespace on the request (" + ns + ")");
  }
  return CommitUpdateLocked(type, key, std::move(object), std::move(warnings),
                            /*uid_is_precondition=*/false);
}

Reply KubernetesApiDouble::Impl::CommitUpdateLocked(const ResourceType& type,
                                                    const ObjectKey& key, json candidate,
                                                    std::vector<std::string> warnings,
                                                    bool uid_is_precondition) {
  const std::string& name = std::get<2>(key);
  const json& stored = objects_.at(key);
  const json& stored_metadata = stored.at("metadata");
  const std::string stored_version = stored_metadata.at("resourceVersion").get<std::string>();
  const std::string stored_uid = stored_metadata.at("uid").get<std::string>();
  json& metadata = candidate["metadata"];

  const std::string given_version = metadata.value("resourceVersion", "");
  if (!given_version.empty()) {
    auto parsed = ParseDecimal(given_version);
    if (!parsed) {
      return InvalidReply(type, name,
                          {InvalidValue("metadata.resourceVersion", Quoted(given_version),
                                        "must be a decimal number (an opaque string the server "
                                        "handed out)")});
    }
    if (*parsed != 0 && *parsed != ParseDecimal(stored_version)) {
      return ConflictReply(type, name,
                           "the object has been modified; please apply your changes to the "
                           "latest version and try again");
    }
  }
  const std::string given_uid = metadata.value("uid", "");
  if (!given_uid.empty() && given_uid != stored_uid) {
    if (uid_is_precondition) {
      return ConflictReply(type, name,
                           "Precondition failed: UID in precondition: " + given_uid +
                               ", UID in object meta: " + stored_uid);
    }
    return InvalidReply(type, name,
                        {InvalidValue("metadata.uid", Quoted(given_uid), "field is immutable")});
  }
  metadata["uid"] = stored_uid;
  metadata["namespace"] = std::get<1>(key);
  metadata["creationTimestamp"] = stored_metadata.at("creationTimestamp");
  metadata.erase("deletionTimestamp");
  std::vector<FieldError> errors = ValidateObject(type, candidate, &stored);
  if (!errors.empty()) return InvalidReply(type, name, errors);

  // An update that changes nothing is no write: the resourceVersion stays.
  metadata["resourceVersion"] = stored_version;
  if (candidate == stored) return Reply{200, stored, std::move(warnings)};
  metadata["resourceVersion"] = NextResourceVersionLocked();
  objects_[key] = candidate;
  return Reply{200, std::move(candidate), std::move(warnings)};
}

Reply KubernetesApiDouble::Impl::DeleteObject(const ResourceType& type, const std::string& ns,
                                              const std::string& name,
                                              const json& delete_options) {
  std::string want_uid, want_version;
  if (delete_options.is_object() && delete_options.contains("preconditions")) {
    const json& preconditions = delete_options.at("preconditions");
    if (!preconditions.is_null() && !preconditions.is_object()) {
      return BadRequest("json: cannot unmarshal " + JsonTypeName(preconditions) +
                        " into Go struct field DeleteOptions.preconditions of type "
                        "v1.Preconditions");
    }
    for (const char* field : {"uid", "resourceVersion"}) {
      if (!preconditions.is_object() || !preconditions.contains(field) ||
          preconditions.at(field).is_null()) {
        continue;
      }
      if (!preconditions.at(field).is_string()) {
        return BadRequest("json: cannot unmarshal " + JsonTypeName(preconditions.at(field)) +
                          " into Go struct field Preconditions.preconditions." + field +
                          " of type string");
      }
      (std::string(field) == "uid" ? want_uid : want_version) =
          preconditions.at(field).get<std::string>();
    }
  } else if (!delete_options.is_null() && !delete_options.is_object()) {
    return BadRequest("json: cannot unmarshal " + JsonTypeName(delete_options) +
                      " into Go value of type v1.DeleteOptions");
  }

  std::lock_guard lock(objects_mutex_);
  auto found = objects_.find({type.resource, ns, name});
  if (found == objects_.end()) return NotFoundReply(type, name);
  const json& metadata = found->second.at("metadata");
  const std::string uid = metadata.at("uid").get<std::string>();
  const std::string version = metadata.at("resourceVersion").get<std::string>();
  if (!want_uid.empty() && want_uid != uid) {
    return ConflictReply(type, name,
                         "Precondition failed: UID in precondition: " + want_uid +
                             ", UID in object meta: " + uid);
  }
  if (!want_version.empty() && want_version != version) {
    return ConflictReply(type, name,
                         "Precondition failed: ResourceVersion in precondition: " + want_version +
                             ", ResourceVersion in object meta: " + version);
  }
  json deleted = std::move(found->second);
  objects_.erase(found);
  (void)NextResourceVersionLocked();  // a delete is a write
  if (type.delete_returns_object) return Reply{200, std::move(deleted), {}};
  json details = NameDetails(type, name, type.resource);
  details["uid"] = uid;
  json status = {{"kind", "Status"},       {"apiVersion", "v1"},
                 {"metadata", json::object()}, {"status", "Success"},
                 {"details", std::move(details)}};
  return Reply{200, std::move(status), {}};
}

// ---- HTTP --------------------------------------------------------------------------------------

void KubernetesApiDouble::Impl::Serve(const httplib::Request& request,
                                      httplib::Response& response) {
  {
    std::lock_guard lock(requests_mutex_);
    requests_.emplace_back(request.method, request.path);
  }
  Reply reply;
  if (WaitWhilePaused()) {
    reply = Route(request);
  } else {
    reply = Failure(503, "ServiceUnavailable", "the test double's server was stopped");
    response.set_header("Connection", "close");
  }
  response.status = reply.code;
  for (const std::string& warning : reply.warnings) {
    response.set_header("Warning", "299 - " + Quoted(warning));
  }
  if (reply.body.is_string()) {
    response.set_content(reply.body.get<std::string>(), "text/plain; charset=utf-8");
  } else {
    response.set_content(JsonText(reply.body), "application/json");
  }
}

bool KubernetesApiDouble::Impl::WaitWhilePaused() {
  std::unique_lock lock(pause_mutex_);
  const uint64_t stops = stops_;
  pause_cv_.wait(lock, [&] { return !paused_ || !serving_ || stops_ != stops; });
  return serving_ && stops_ == stops;
}

bool KubernetesApiDouble::Impl::Authorized(const httplib::Request& request) const {
  if (options_.bearer_token.empty()) return true;
  const std::string header = request.get_header_value("Authorization");
  const size_t space = header.find(' ');
  if (space == std::string::npos) return false;
  std::string scheme = header.substr(0, space);
  std::transform(scheme.begin(), scheme.end(), scheme.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  std::string token = header.substr(space + 1);
  token.erase(0, token.find_first_not_of(' '));
  token.erase(token.find_last_not_of(' ') + 1);
  return scheme == "bearer" && token == options_.bearer_token;
}

Reply KubernetesApiDouble::Impl::Route(const httplib::Request& request) {
  if (!Authorized(request)) return Failure(401, "Unauthorized", "Unauthorized");
  const bool is_read = request.method == "GET" || request.method == "HEAD";
  if (request.path == "/version") {
    if (!is_read) {
      return Failure(405, "MethodNotAllowed",
                     "the server does not allow this method on the requested resource");
    }
    return Reply{200,
                 {{"major", "1"},
                  {"minor", "31"},
                  {"gitVersion", "v1.31.0+pgpilot-test-double"},
                  {"platform", "linux/amd64"}},
                 {}};
  }
  if (request.path == "/healthz" || request.path == "/readyz" || request.path == "/livez") {
    return Reply{200, "ok", {}};
  }
  auto path = ParseApiPath(request.path);
  if (!path) return Failure(404, "NotFound", "the server could not find the requested resource");
  return path->name.empty() ? RouteCollection(*path, request) : RouteObject(*path, request);
}

Reply KubernetesApiDouble::Impl::RouteCollection(const ApiPath& path,
                                                 const httplib::Request& request) {
  if (request.has_param("dryRun")) return NotImplemented("dryRun");
  if (request.method == "GET" || request.method == "HEAD") {
    if (request.has_param("watch") && IsTrue(request.get_param_value("watch"))) {
      return NotImplemented("watch");
    }
    if (request.has_param("fieldSelector") && !request.get_param_value("fieldSelector").empty()) {
      return NotImplemented("fieldSelector");
    }
    int64_t limit = 0;
    if (request.has_param("limit")) {
      auto parsed = ParseSignedDecimal(request.get_param_value("limit"));
      if (!parsed) return BadRequest("limit: not an integer: " + request.get_param_value("limit"));
      limit = *parsed;
    }
    return ListObjects(*path.type, path.ns, request.get_param_value("labelSelector"), limit,
                       request.get_param_value("continue"));
  }
  if (request.method == "POST") {
    const std::string media_type = MediaType(request);
    if (!media_type.empty() && media_type != "application/json") {
      return UnsupportedMediaType(media_type, kJsonOnly);
    }
    json body = json::parse(request.body, nullptr, /*allow_exceptions=*/false);
    if (body.is_discarded()) {
      return BadRequest(path.type->kind + " in version " + Quoted(path.type->Version()) +
                        " cannot be handled as a " + path.type->kind + ": the body is not JSON");
    }
    return CreateObject(*path.type, path.ns, body);
  }
  return Failure(405, "MethodNotAllowed",
                 "the server does not allow this method on the requested resource");
}

Reply KubernetesApiDouble::Impl::RouteObject(const ApiPath& path,
                                             const httplib::Request& request) {
  const ResourceType& type = *path.type;
  if (request.has_param("dryRun")) return NotImplemented("dryRun");
  if (request.method == "GET" || request.method == "HEAD") {
    if (request.has_param("watch") && IsTrue(request.get_param_value("watch"))) {
      return NotImplemented("watch");
    }
    return GetObject(type, path.ns, path.name);
  }
  auto parse_body = [&](json* body) -> std::optional<Reply> {
    *body = json::parse(request.body, nullptr, /*allow_exceptions=*/false);
    if (body->is_discarded()) {
      return BadRequest(type.kind + " in version " + Quoted(type.Version()) +
                        " cannot be handled as a " + type.kind + ": the body is not JSON");
    }
    return std::nullopt;
  };
  json body;
  if (request.method == "PUT" && type.replaceable) {
    const std::string media_type = MediaType(request);
    if (!media_type.empty() && media_type != "application/json") {
      return UnsupportedMediaType(media_type, kJsonOnly);
    }
    if (auto failure = parse_body(&body)) return *failure;
    return ReplaceObject(type, path.ns, path.name, body);
  }
  if (request.method == "PATCH") {
    const std::string media_type = MediaType(request);
    if (media_type != "application/merge-patch+json") {
      return UnsupportedMediaType(
          media_type, "application/merge-patch+json (this test double implements JSON merge "
                      "patch only: no JSON patch, strategic merge patch or server-side apply)");
    }
    if (auto failure = parse_body(&body)) return *failure;
    return PatchObject(type, path.ns, path.name, body);
  }
  if (request.method == "DELETE") {
    if (!request.body.empty()) {
      if (auto failure = parse_body(&body)) return *failure;
    }
    return DeleteObject(type, path.ns, path.name, body);
  }
  return Failure(405, "MethodNotAllowed",
                 "the server does not allow this method on the requested resource");
}

// ---- serving ---------------------------------------------------------------------------------

Status KubernetesApiDouble::Impl::Listen(int port) {
  std::lock_guard lock(lifecycle_mutex_);
  return ListenLocked(port);
}

Status KubernetesApiDouble::Impl::ListenLocked(int port) {
  if (server_) return Status::Ok();
  auto server = std::make_unique<httplib::Server>();
  auto serve = [this](const httplib::Request& request, httplib::Response& response) {
    Serve(request, response);
  };
  server->Get(".*", serve);
  server->Post(".*", serve);
  server->Put(".*", serve);
  server->Patch(".*", serve);
  server->Delete(".*", serve);
  server->Options(".*", serve);
  // One request per connection: stopping never waits for an idle keep-alive connection.
  server->set_keep_alive_max_count(1);
  // SO_REUSEADDR (rebinding over TIME_WAIT on Restart) but not httplib's default SO_REUSEPORT,
  // with which Restart could share the port with whoever took it meanwhile.
  server->set_socket_options([](socket_t socket) {
    int yes = 1;
    setsockopt(socket, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  });
  int bound = port == 0 ? server->bind_to_any_port("127.0.0.1")
                        : (server->bind_to_port("127.0.0.1", port) ? port : -1);
  if (bound <= 0) {
    return Unavailable("the Kubernetes API double cannot listen on 127.0.0.1:" +
                       std::to_string(port),
                       port == 0 ? "" : "another process took the port while it was stopped");
  }
  {
    std::lock_guard pause_lock(pause_mutex_);
    serving_ = true;
  }
  auto listen_returned = std::make_shared<std::atomic<bool>>(false);
  httplib::Server* raw = server.get();
  listen_thread_ = std::thread([raw, listen_returned] {
    raw->listen_after_bind();
    listen_returned->store(true);
  });
  // httplib's stop() does nothing until the accept loop runs: wait for it.
  while (!raw->is_running() && !listen_returned->load()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  server_ = std::move(server);
  port_ = bound;
  if (listen_returned->load()) {
    StopLocked();
    return Unavailable("the Kubernetes API double's server did not start on 127.0.0.1:" +
                       std::to_string(bound));
  }
  return Status::Ok();
}

Status KubernetesApiDouble::Impl::Stop() {
  std::lock_guard lock(lifecycle_mutex_);
  StopLocked();
  return Status::Ok();
}

void KubernetesApiDouble::Impl::StopLocked() {
  if (!server_) return;
  {
    std::lock_guard pause_lock(pause_mutex_);
    serving_ = false;
    ++stops_;
  }
  pause_cv_.notify_all();
  server_->stop();
  listen_thread_.join();
  server_.reset();
}

Status KubernetesApiDouble::Impl::Restart() {
  std::lock_guard lock(lifecycle_mutex_);
  StopLocked();
  return ListenLocked(port_.load());
}

void KubernetesApiDouble::Impl::SetPaused(bool paused) {
  {
    std::lock_guard lock(pause_mutex_);
    paused_ = paused;
  }
  pause_cv_.notify_all();
}

bool KubernetesApiDouble::Impl::paused() const {
  std::lock_guard lock(pause_mutex_);
  return paused_;
}

bool KubernetesApiDouble::Impl::running() const {
  std::lock_guard lock(pause_mutex_);
  return serving_;
}

int KubernetesApiDouble::Impl::RequestCount(const std::string& method,
                                            const std::string& path_prefix) const {
  std::lock_guard lock(requests_mutex_);
  return static_cast<int>(std::count_if(requests_.begin(), requests_.end(), [&](const auto& r) {
    return (method.empty() || r.first == method) && r.second.rfind(path_prefix, 0) == 0;
  }));
}

// =============================================================================================

KubernetesApiDouble::KubernetesApiDouble(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
KubernetesApiDouble::~KubernetesApiDouble() = default;

Result<std::unique_ptr<KubernetesApiDouble>> KubernetesApiDouble::Start(const Options& options) {
  auto impl = std::make_unique<Impl>(options);
  Status listening = impl->Listen(0);
  if (!listening.ok()) return listening.error();
  return std::unique_ptr<KubernetesApiDouble>(new KubernetesApiDouble(std::move(impl)));
}

std::string KubernetesApiDouble::url() const {
  return "http://127.0.0.1:" + std::to_string(impl_->port());
}

int KubernetesApiDouble::port() const { return impl_->port(); }

namespace {

Result<const ResourceType*> ResourceTypeNamed(const std::string& resource) {
  const ResourceType* type = FindResourceType(resource);
  if (type == nullptr) {
    return InvalidArgument("the Kubernetes API double serves no resource " + Quoted(resource),
                           "use \"leases\", \"configmaps\" or \"pods\"");
  }
  return type;
}

Result<json> ParseJson(const std::string& text) {
  json parsed = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) return InvalidArgument("not JSON: " + text.substr(0, 200));
  return parsed;
}

}  // namespace

Result<std::string> KubernetesApiDouble::Create(const std::string& resource, const std::string& ns,
                                                const std::string& object_json) {
  auto type = ResourceTypeNamed(resource);
  if (!type.ok()) return type.error();
  auto body = ParseJson(object_json);
  if (!body.ok()) return body.error();
  Reply reply = impl_->CreateObject(**type, ns, *body);
  if (!reply.ok()) return ErrorOf(reply);
  return JsonText(reply.body);
}

Result<std::string> KubernetesApiDouble::Get(const std::string& resource, const std::string& ns,
                                             const std::string& name) const {
  auto type = ResourceTypeNamed(resource);
  if (!type.ok()) return type.error();
  Reply reply = impl_->GetObject(**type, ns, name);
  if (!reply.ok()) return ErrorOf(reply);
  return JsonText(reply.body);
}

Result<std::vector<std::string>> KubernetesApiDouble::List(
    const std::string& resource, const std::string& ns, const std::string& label_selector) const {
  auto type = ResourceTypeNamed(resource);
  if (!type.ok()) return type.error();
  Reply reply = impl_->ListObjects(**type, ns, label_selector, 0, "");
  if (!reply.ok()) return ErrorOf(reply);
  std::vector<std::string> names;
  for (const json& item : reply.body.at("items")) {
    names.push_back(item.at("metadata").at("name").get<std::string>());
  }
  return names;
}

Result<std::string> KubernetesApiDouble::Patch(const std::string& resource, const std::string& ns,
                                               const std::string& name,
                                               const std::string& merge_patch_json) {
  auto type = ResourceTypeNamed(resource);
  if (!type.ok()) return type.error();
  auto patch = ParseJson(merge_patch_json);
  if (!patch.ok()) return patch.error();
  Reply reply = impl_->PatchObject(**type, ns, name, *patch);
  if (!reply.ok()) return ErrorOf(reply);
  return JsonText(reply.body);
}

Status KubernetesApiDouble::Delete(const std::string& resource, const std::string& ns,
                                   const std::string& name) {
  auto type = ResourceTypeNamed(resource);
  if (!type.ok()) return type.error();
  Reply reply = impl_->DeleteObject(**type, ns, name, json());
  if (!reply.ok()) return ErrorOf(reply);
  return Status::Ok();
}

void KubernetesApiDouble::Pause() { impl_->SetPaused(true); }
void KubernetesApiDouble::Resume() { impl_->SetPaused(false); }
Status KubernetesApiDouble::Stop() { return impl_->Stop(); }
Status KubernetesApiDouble::Restart() { return impl_->Restart(); }
bool KubernetesApiDouble::paused() const { return impl_->paused(); }
bool KubernetesApiDouble::running() const { return impl_->running(); }

int KubernetesApiDouble::RequestCount(const std::string& method,
                                      const std::string& path_prefix) const {
  return impl_->RequestCount(method, path_prefix);
}

}  // namespace pgpilot::testing
