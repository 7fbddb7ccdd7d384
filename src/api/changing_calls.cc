#include "api/changing_calls.h"

#include <nlohmann/json.hpp>

#include <set>
#include <utility>
#include <vector>

#include "agent/operations.h"
#include "core/member_requests.h"
#include "platform/json_text.h"
#include "store/codec.h"

namespace pgpilot {
namespace {

using nlohmann::json;

constexpr ChangingCall kCalls[] = {
    {"POST", "/switchover", R"({"to": "pg-1", "at": "2026-12-02T10:00:00Z", "force": false}, every key optional)"},
    {"DELETE", "/switchover", "none: drops the pending switchover or failover request"},
    {"POST", "/failover", R"({"to": "pg-1", "force": false}, "to" required)"},
    {"POST", "/restart", R"({"member": "pg-1", "pending": false}, every key optional (no member: all))"},
    {"POST", "/reinit", R"({"member": "pg-1"})"},
    {"POST", "/pause", "none"},
    {"POST", "/resume", "none"},
    {"PATCH", "/config", R"({"synchronous_mode": "on", "postgresql.parameters.work_mem": "64MB"}, null unsets)"},
};

ApiAnswer Fail(const Error& e) {
  return ApiAnswer{HttpStatusFor(e), RefusalJson(e.message, e.hint), "refused: " + e.message};
}

ApiAnswer Done(int status, json j, std::string summary) {
  j["ok"] = true;
  return ApiAnswer{status, JsonText(j), std::move(summary)};
}

// The body as an object of the allowed keys (an empty body is an empty object).
Result<json> ParseBody(const std::string& body, const std::set<std::string>& allowed, const std::string& call) {
  if (body.find_first_not_of(" \t\r\n") == std::string::npos) return json::object();
  json j = json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return InvalidArgument(call + ": the body is not a JSON object", "send e.g. {\"to\": \"pg-1\"}");
  }
  for (const auto& [key, value] : j.items()) {
    if (!allowed.count(key)) {
      std::string known;
      for (const auto& k : allowed) known += (known.empty() ? "" : ", ") + k;
      return InvalidArgument(call + ": unknown key '" + key + "'",
                             known.empty() ? "send no body" : "the keys it takes are: " + known);
    }
  }
  return j;
}

Result<std::string> StringField(const json& j, const char* key, const std::string& call) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return std::string();
  if (!it->is_string()) return InvalidArgument(call + ": '" + key + "' must be a string");
  return it->get<std::string>();
}

Result<bool> BoolField(const json& j, const char* key, const std::string& call) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return false;
  if (!it->is_boolean()) return InvalidArgument(call + ": '" + key + "' must be true or false");
  return it->get<bool>();
}

// {"a": {"b": 1}} -> ("a.b", "1"): the settings as `ctl edit-config --set` takes them. null unsets.
Status Flatten(const json& j, const std::string& prefix, std::vector<std::pair<std::string, std::string>>* out) {
  for (const auto& [key, value] : j.items()) {
    std::string name = prefix.empty() ? key : prefix + "." + key;
    if (value.is_object()) {
      if (Status s = Flatten(value, name, out); !s.ok()) return s;
    } else if (value.is_null()) {
      out->emplace_back(name, "");
    } else if (value.is_string()) {
      out->emplace_back(name, value.get<std::string>());
    } else if (value.is_boolean()) {
      out->emplace_back(name, value.get<bool>() ? "true" : "false");
    } else if (value.is_number()) {
      out->emplace_back(name, value.dump());
    } else {
      return InvalidArgument("PATCH /config: '" + name + "' must be a string, number, boolean or null",
                             "send one value per setting, e.g. {\"postgresql.parameters.work_mem\": \"64MB\"}");
    }
  }
  return Status::Ok();
}

json RequestsJson(const std::vector<SentRequest>& sent) {
  json list = json::array();
  for (const SentRequest& s : sent) {
    list.push_back({{"member", s.request.member},
                    {"kind", DescribeRequest(s.request)},
                    {"requested_ms", s.request.requested.unix_ms},
                    {"postgres_pid", s.postgres_pid_before}});
  }
  return list;
}

json SwitchoverJson(const SwitchoverRecord& r) { return json::parse(EncodeSwitchover(r)); }

ApiAnswer ConfigAnswer(const Result<DynamicConfig>& config, const std::string& what) {
  if (!config.ok()) return Fail(config.error());
  return Done(200, json{{"config", json::parse(EncodeConfig(*config))}}, what);
}

}  // namespace

std::span<const ChangingCall> ChangingCalls() { return kCalls; }

std::string RefusalJson(const std::string& error, const std::string& hint) {
  return JsonText(json{{"ok", false}, {"error", error}, {"hint", hint}});
}

int HttpStatusFor(const Error& error) {
  switch (error.code) {
    case ErrorCode::kInvalidArgument:
    case ErrorCode::kNotFound:
      return 400;
    case ErrorCode::kFailedPrecondition:
      return 409;
    case ErrorCode::kUnavailable:
      return 503;
    case ErrorCode::kPermissionDenied:
      return 403;
    case ErrorCode::kInternal:
      return 500;
  }
  return 500;
}

ChangingCallHandler::ChangingCallHandler(StoreOpener open_store, const Clock& clock, uint64_t maximum_lag)
    : open_store_(std::move(open_store)), clock_(clock), maximum_lag_(maximum_lag) {}

ApiAnswer ChangingCallHandler::Handle(const std::string& method, const std::string& path, const std::string& body) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!store_) {
    auto opened = open_store_();
    if (!opened.ok()) {
      const Error& e = opened.error();
      return Fail(Unavailable("cannot open the store: " + e.message, e.hint));
    }
    store_ = std::move(*opened);
  }
  return Dispatch(*store_, method, path, body);
}

ApiAnswer ChangingCallHandler::Dispatch(Store& store, const std::string& method, const std::string& path,
                                        const std::string& body) {
  const std::string call = method + " " + path;
  WallTime now = clock_.WallNow();
  if (method == "POST" && path == "/switchover") {
    auto j = ParseBody(body, {"to", "at", "force"}, call);
    if (!j.ok()) return Fail(j.error());
    auto to = StringField(*j, "to", call);
    auto at = StringField(*j, "at", call);
    auto force = BoolField(*j, "force", call);
    for (const Status& s : {to.status(), at.status(), force.status()}) {
      if (!s.ok()) return Fail(s.error());
    }
    SwitchoverParams params{*to, std::nullopt, *force, maximum_lag_};
    if (!at->empty()) {
      params.not_before = ParseWallTime(*at);
      if (!params.not_before) {
        return Fail(InvalidArgument(call + ": 'at' is not a UTC time: '" + *at + "'",
                                    "write it as 2026-12-02T10:00:00Z"));
      }
    }
    auto written = RequestSwitchover(store, params, now);
    if (!written.ok()) return Fail(written.error());
    bool scheduled = params.not_before && *params.not_before > now;
    return Done(202, json{{"switchover", SwitchoverJson(*written)}, {"scheduled", scheduled}},
                "switchover from " + written->from + " to " + written->to +
                    (scheduled ? " scheduled for " + FormatWallTime(*params.not_before) : " requested"));
  }
  if (method == "DELETE" && path == "/switchover") {
    auto j = ParseBody(body, {}, call);
    if (!j.ok()) return Fail(j.error());
    auto dropped = CancelSwitchover(store);
    if (!dropped.ok()) return Fail(dropped.error());
    if (!*dropped) return Done(200, json{{"cancelled", nullptr}}, "no request was pending");
    return Done(200, json{{"cancelled", SwitchoverJson(**dropped)}}, "dropped the request for " + (*dropped)->to);
  }
  if (method == "POST" && path == "/failover") {
    auto j = ParseBody(body, {"to", "force"}, call);
    if (!j.ok()) return Fail(j.error());
    auto to = StringField(*j, "to", call);
    auto force = BoolField(*j, "force", call);
    if (!to.ok()) return Fail(to.error());
    if (!force.ok()) return Fail(force.error());
    if (to->empty()) return Fail(InvalidArgument(call + " needs \"to\": the member to promote"));
    auto written = RequestFailover(store, *to, *force, now);
    if (!written.ok()) return Fail(written.error());
    return Done(202, json{{"switchover", SwitchoverJson(*written)}},
                "failover to " + *to + (*force ? " (forced)" : "") + " requested");
  }
  if (method == "POST" && path == "/restart") {
    auto j = ParseBody(body, {"member", "pending"}, call);
    if (!j.ok()) return Fail(j.error());
    auto member = StringField(*j, "member", call);
    auto pending = BoolField(*j, "pending", call);
    if (!member.ok()) return Fail(member.error());
    if (!pending.ok()) return Fail(pending.error());
    auto sent = RequestRestart(store, *member, *pending, now);
    if (!sent.ok()) return Fail(sent.error());
    std::string who;
    for (const SentRequest& s : *sent) who += (who.empty() ? "" : ", ") + s.request.member;
    return Done(sent->empty() ? 200 : 202, json{{"requests", RequestsJson(*sent)}},
                sent->empty() ? "no member to restart" : "restart of " + who + " requested");
  }
  if (method == "POST" && path == "/reinit") {
    auto j = ParseBody(body, {"member"}, call);
    if (!j.ok()) return Fail(j.error());
    auto member = StringField(*j, "member", call);
    if (!member.ok()) return Fail(member.error());
    if (member->empty()) return Fail(InvalidArgument(call + " needs \"member\": the replica to re-initialize"));
    auto sent = RequestReinit(store, *member, now);
    if (!sent.ok()) return Fail(sent.error());
    return Done(202, json{{"requests", RequestsJson({*sent})}}, "reinit of " + *member + " requested");
  }
  if (method == "POST" && (path == "/pause" || path == "/resume")) {
    auto j = ParseBody(body, {}, call);
    if (!j.ok()) return Fail(j.error());
    bool pause = path == "/pause";
    return ConfigAnswer(SetPause(store, pause), pause ? "maintenance mode on" : "maintenance mode off");
  }
  if (method == "PATCH" && path == "/config") {
    json j = json::parse(body, nullptr, false);
    if (j.is_discarded() || !j.is_object()) {
      return Fail(InvalidArgument(call + ": the body is not a JSON object",
                                  "send {\"KEY\": VALUE, ...}, e.g. {\"synchronous_mode\": \"on\"}"));
    }
    std::vector<std::pair<std::string, std::string>> settings;
    if (Status s = Flatten(j, "", &settings); !s.ok()) return Fail(s.error());
    std::string keys;
    for (const auto& [key, value] : settings) keys += (keys.empty() ? "" : ", ") + key;
    return ConfigAnswer(ChangeSettings(store, settings), "cluster-wide settings changed: " + keys);
  }
  return Fail(NotFound("no changing call " + call));
}

}  // namespace pgpilot
