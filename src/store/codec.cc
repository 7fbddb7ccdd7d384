#include "store/codec.h"
#include "platform/json_text.h"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "core/defaults.h"
#include "core/parameter_name.h"

namespace pgpilot {
namespace {

using nlohmann::json;

// Text from outside (file names, server messages) may not be valid UTF-8; dump() would throw on
// it. Invalid bytes become U+FFFD instead, so publishing a status never fails on its wording.
// Reads typed fields from a JSON object without throwing; the first problem is remembered.
class Reader {
 public:
  Reader(const std::string& key, const json& j) : key_(key), j_(j) {}

  std::string String(const char* field, bool required = true) {
    if (!j_.contains(field)) return Missing(field, required), std::string();
    if (!j_[field].is_string()) return Wrong(field, "a string"), std::string();
    return j_[field].get<std::string>();
  }
  int64_t Int(const char* field, bool required = true) {
    if (!j_.contains(field)) return Missing(field, required), 0;
    if (!j_[field].is_number_integer()) return Wrong(field, "an integer"), 0;
    return j_[field].get<int64_t>();
  }
  uint64_t Uint(const char* field, bool required = true) {
    int64_t v = Int(field, required);
    if (v < 0) Wrong(field, "a non-negative integer");
    return v < 0 ? 0 : static_cast<uint64_t>(v);
  }
  bool Bool(const char* field, bool required = true) {
    if (!j_.contains(field)) return Missing(field, required), false;
    if (!j_[field].is_boolean()) return Wrong(field, "true or false"), false;
    return j_[field].get<bool>();
  }
  Lsn LsnField(const char* field, bool required = true) {
    std::string text = String(field, required);
    if (text.empty()) return Lsn{};
    auto lsn = Lsn::Parse(text);
    if (!lsn) Wrong(field, "a WAL position like 0/3000148");
    return lsn.value_or(Lsn{});
  }
  const std::optional<Error>& error() const { return error_; }

 private:
  void Missing(const char* field, bool required) {
    if (required && !error_) error_ = Problem(std::string("has no field '") + field + "'");
  }
  void Wrong(const char* field, const char* expected) {
    if (!error_) error_ = Problem(std::string("field '") + field + "' is not " + expected);
  }
  Error Problem(const std::string& what) const {
    return InvalidArgument("store key " + key_ + " " + what,
                           "the key prefix may hold data not written by pgpilot; check the "
                           "cluster name and the store's contents");
  }

  std::string key_;
  const json& j_;
  std::optional<Error> error_;
};

Result<json> ParseObject(const std::string& key, const std::string& text) {
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return InvalidArgument("store key " + key + " does not hold a JSON object",
                           "the key prefix may hold data not written by pgpilot; check the "
                           "cluster name and the store's contents");
  }
  return j;
}

json MemberJson(const MemberStatus& m) {
  return json{{"name", m.name},
              {"role", m.role},
              {"state", m.state},
              {"reason", m.reason},
              {"api_url", m.api_url},
              {"host", m.host},
              {"port", m.port},
              {"timeline", m.timeline},
              {"wal_position", m.wal_position.ToString()},
              {"replayed", m.replayed.ToString()},
              {"streaming", m.streaming},
              {"upstream", m.upstream},
              {"term", m.term},
              {"tags", {{"nofailover", m.tags.nofailover},
                        {"nosync", m.tags.nosync},
                        {"noloadbalance", m.tags.noloadbalance},
                        {"clonefrom", m.tags.clonefrom}}},
              {"pending_restart", m.pending_restart},
              {"commit_overrides", m.commit_overrides},
              {"version", m.version},
              {"agent_pid", m.agent_pid},
              {"postgres_pid", m.postgres_pid},
              {"updated_ms", m.updated.unix_ms}};
}

}  // namespace

std::string EncodeInitialize(const InitializeRecord& r) {
  return JsonText(json{{"claimed_by", r.claimed_by}, {"system_id", r.system_id}});
}

Result<InitializeRecord> DecodeInitialize(const std::string& key, const std::string& text) {
  auto j = ParseObject(key, text);
  if (!j.ok()) return j.error();
  Reader r(key, *j);
  InitializeRecord out{r.String("claimed_by"), r.String("system_id")};
  if (r.error()) return *r.error();
  return out;
}

std::string EncodeLeader(const LeaderRecord& r) {
  return JsonText(json{{"holder", r.holder},
                   {"term", r.term},
                   {"ttl_ms", r.ttl.count()},
                   {"lsn", r.lsn.ToString()},
                   {"timeline", r.timeline},
                   {"released", r.released}});
}

Result<LeaderRecord> DecodeLeader(const std::string& key, const std::string& text) {
  auto j = ParseObject(key, text);
  if (!j.ok()) return j.error();
  Reader r(key, *j);
  LeaderRecord out;
  out.holder = r.String("holder");
  out.term = r.Uint("term");
  out.ttl = Duration(r.Int("ttl_ms"));
  out.lsn = r.LsnField("lsn");
  out.timeline = static_cast<Timeline>(r.Uint("timeline"));
  out.released = r.Bool("released");
  if (r.error()) return *r.error();
  if (out.holder.empty() || out.ttl.count() <= 0) {
    return InvalidArgument("store key " + key + " holds a leader record without holder or ttl",
                           "the key prefix may hold data not written by pgpilot");
  }
  return out;
}

std::string EncodeMember(const MemberStatus& m) { return JsonText(MemberJson(m)); }

Result<MemberStatus> DecodeMember(const std::string& key, const std::string& text) {
  auto j = ParseObject(key, text);
  if (!j.ok()) return j.error();
  Reader r(key, *j);
  MemberStatus m;
  m.name = r.String("name");
  m.role = r.String("role");
  m.state = r.String("state");
  m.reason = r.String("reason", false);
  m.api_url = r.String("api_url");
  m.host = r.String("host");
  m.port = static_cast<int>(r.Int("port"));
  m.timeline = static_cast<Timeline>(r.Uint("timeline"));
  m.wal_position = r.LsnField("wal_position");
  m.replayed = r.LsnField("replayed", false);
  m.streaming = r.Bool("streaming");
  m.upstream = r.String("upstream", false);
  m.term = r.Uint("term", false);
  if (j->contains("tags") && (*j)["tags"].is_object()) {
    Reader tags(key + " tags", (*j)["tags"]);
    m.tags.nofailover = tags.Bool("nofailover", false);
    m.tags.nosync = tags.Bool("nosync", false);
    m.tags.noloadbalance = tags.Bool("noloadbalance", false);
    m.tags.clonefrom = tags.Bool("clonefrom", false);
    if (tags.error()) return *tags.error();
  }
  m.pending_restart = r.Bool("pending_restart", false);
  m.commit_overrides = r.String("commit_overrides", false);
  m.version = r.String("version", false);
  m.agent_pid = r.Int("agent_pid", false);
  m.postgres_pid = r.Int("postgres_pid", false);
  m.updated = WallTime{r.Int("updated_ms", false)};
  if (r.error()) return *r.error();
  if (m.name.empty()) {
    return InvalidArgument("store key " + key + " holds a member entry without a name",
                           "the key prefix may hold data not written by pgpilot");
  }
  return m;
}

std::string EncodeSync(const SyncRecord& r) {
  return JsonText(json{{"leader", r.leader}, {"members", r.members}});
}

Result<SyncRecord> DecodeSync(const std::string& key, const std::string& text) {
  auto j = ParseObject(key, text);
  if (!j.ok()) return j.error();
  Reader r(key, *j);
  SyncRecord out;
  out.leader = r.String("leader");
  if (r.error()) return *r.error();
  const json& members = (*j)["members"];
  if (!members.is_array()) {
    return InvalidArgument("store key " + key + " has no list 'members'",
                           "the key prefix may hold data not written by pgpilot");
  }
  for (const json& name : members) {
    if (!name.is_string() || name.get<std::string>().empty()) {
      return InvalidArgument("store key " + key + " lists a member that is not a name",
                             "the key prefix may hold data not written by pgpilot");
    }
    out.members.push_back(name.get<std::string>());
  }
  std::sort(out.members.begin(), out.members.end());
  out.members.erase(std::unique(out.members.begin(), out.members.end()), out.members.end());
  return out;
}

std::string EncodeConfig(const DynamicConfig& c) {
  json j = json::object();
  if (c.pause) j["pause"] = true;
  if (c.maximum_lag_on_failover) j["maximum_lag_on_failover"] = *c.maximum_lag_on_failover;
  if (c.synchronous_mode) j["synchronous_mode"] = SyncModeName(*c.synchronous_mode);
  if (c.synchronous_node_count) j["synchronous_node_count"] = *c.synchronous_node_count;
  if (c.ttl) j["ttl_ms"] = c.ttl->count();
  if (c.loop_wait) j["loop_wait_ms"] = c.loop_wait->count();
  if (!c.parameters.empty()) {
    json params = json::object();
    for (const auto& [name, value] : c.parameters) params[name] = value;
    j["postgresql"] = json{{"parameters", params}};
  }
  return JsonText(j);
}

Result<DynamicConfig> DecodeConfig(const std::string& key, const std::string& text) {
  auto j = ParseObject(key, text);
  if (!j.ok()) return j.error();
  auto bad = [&](const std::string& what) {
    return InvalidArgument("store key " + key + ": " + what,
                           "fix it with `pgpilot ctl edit-config` (see docs/configuration.md)");
  };
  DynamicConfig c;
  Reader r(key, *j);
  for (const auto& [name, value] : j->items()) {
    if (name == "pause") {
      c.pause = r.Bool("pause");
    } else if (name == "maximum_lag_on_failover") {
      c.maximum_lag_on_failover = r.Uint("maximum_lag_on_failover");
    } else if (name == "synchronous_mode") {
      auto mode = ParseSyncMode(r.String("synchronous_mode"));
      if (!mode) return bad("synchronous_mode must be off, on or strict");
      c.synchronous_mode = mode;
    } else if (name == "synchronous_node_count") {
      int64_t count = r.Int("synchronous_node_count");
      if (count < 1 || count > 16) return bad("synchronous_node_count must be 1 to 16");
      c.synchronous_node_count = static_cast<int>(count);
    } else if (name == "ttl_ms") {
      int64_t ms = r.Int("ttl_ms");
      if (ms < kMinimumTtl.count()) return bad("ttl_ms must be at least " + std::to_string(kMinimumTtl.count()));
      c.ttl = Duration(ms);
    } else if (name == "loop_wait_ms") {
      int64_t ms = r.Int("loop_wait_ms");
      if (ms < kMinimumLoopWait.count()) {
        return bad("loop_wait_ms must be at least " + std::to_string(kMinimumLoopWait.count()));
      }
      c.loop_wait = Duration(ms);
    } else if (name == "postgresql") {
      if (!value.is_object()) return bad("postgresql must be a mapping");
      for (const auto& [section, params] : value.items()) {
        if (section != "parameters" || !params.is_object()) {
          return bad("postgresql may only hold a mapping 'parameters', not '" + section + "'");
        }
        for (const auto& [param, setting] : params.items()) {
          // Written unquoted into every member's PostgreSQL configuration.
          if (!IsParameterName(param)) return bad("'" + param + "' is not a PostgreSQL parameter name");
          if (!setting.is_string()) return bad("postgresql parameter " + param + " must be a string");
          c.parameters.emplace_back(param, setting.get<std::string>());
        }
      }
    } else {
      return bad("unknown setting '" + name + "' (allowed: pause, maximum_lag_on_failover, "
                 "synchronous_mode, synchronous_node_count, ttl_ms, loop_wait_ms, postgresql.parameters)");
    }
  }
  if (r.error()) return *r.error();
  std::sort(c.parameters.begin(), c.parameters.end());
  return c;
}

namespace {

std::string_view RequestKindWire(RequestKind kind) {
  return kind == RequestKind::kReinit ? "reinit" : "restart";
}

}  // namespace

std::string EncodeRequests(const RequestsRecord& record) {
  json list = json::array();
  for (const MemberRequest& r : record.requests) {
    list.push_back(json{{"member", r.member},
                        {"kind", RequestKindWire(r.kind)},
                        {"only_if_pending", r.only_if_pending},
                        {"requested_ms", r.requested.unix_ms},
                        {"refused", r.refused}});
  }
  return JsonText(json{{"requests", list}});
}

Result<RequestsRecord> DecodeRequests(const std::string& key, const std::string& text) {
  auto j = ParseObject(key, text);
  if (!j.ok()) return j.error();
  auto bad = [&](const std::string& what) {
    return InvalidArgument("store key " + key + " " + what,
                           "the key prefix may hold data not written by pgpilot");
  };
  const json& list = (*j)["requests"];
  if (!list.is_array()) return bad("has no list 'requests'");
  RequestsRecord out;
  for (const json& item : list) {
    if (!item.is_object()) return bad("lists a request that is not an object");
    Reader r(key, item);
    MemberRequest request;
    request.member = r.String("member");
    std::string kind = r.String("kind");
    request.only_if_pending = r.Bool("only_if_pending", false);
    request.requested = WallTime{r.Int("requested_ms", false)};
    request.refused = r.String("refused", false);
    if (r.error()) return *r.error();
    if (request.member.empty()) return bad("holds a request without a member");
    if (kind == RequestKindWire(RequestKind::kRestart)) {
      request.kind = RequestKind::kRestart;
    } else if (kind == RequestKindWire(RequestKind::kReinit)) {
      request.kind = RequestKind::kReinit;
    } else {
      return bad("holds a request of unknown kind '" + kind + "' (restart or reinit)");
    }
    out.requests.push_back(std::move(request));
  }
  std::sort(out.requests.begin(), out.requests.end(),
            [](const MemberRequest& a, const MemberRequest& b) { return a.member < b.member; });
  for (size_t i = 1; i < out.requests.size(); ++i) {
    if (out.requests[i].member == out.requests[i - 1].member) {
      return bad("holds two requests for " + out.requests[i].member);
    }
  }
  return out;
}

std::string EncodeSwitchover(const SwitchoverRecord& r) {
  return JsonText(json{{"from", r.from},
                       {"to", r.to},
                       {"not_before_ms", r.not_before.unix_ms},
                       {"requested_ms", r.requested.unix_ms},
                       {"force", r.force}});
}

Result<SwitchoverRecord> DecodeSwitchover(const std::string& key, const std::string& text) {
  auto j = ParseObject(key, text);
  if (!j.ok()) return j.error();
  Reader r(key, *j);
  SwitchoverRecord out;
  out.from = r.String("from");
  out.to = r.String("to");
  out.not_before = WallTime{r.Int("not_before_ms", false)};
  out.requested = WallTime{r.Int("requested_ms", false)};
  out.force = r.Bool("force", false);
  if (r.error()) return *r.error();
  if (out.to.empty()) {
    return InvalidArgument("store key " + key + " holds a switchover without a target",
                           "the key prefix may hold data not written by pgpilot");
  }
  return out;
}

std::string EncodeHistory(const std::vector<HistoryEntry>& history) {
  json list = json::array();
  for (const auto& h : history) {
    list.push_back(json{{"timeline", h.timeline},
                        {"switch_lsn", h.switch_lsn.ToString()},
                        {"parent_timeline", h.parent},
                        {"old_leader", h.old_leader},
                        {"new_leader", h.new_leader},
                        {"term", h.term},
                        {"time_ms", h.time.unix_ms},
                        {"reason", h.reason}});
  }
  return JsonText(list);
}

Result<std::vector<HistoryEntry>> DecodeHistory(const std::string& key, const std::string& text) {
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_array()) {
    return InvalidArgument("store key " + key + " does not hold a JSON list",
                           "the key prefix may hold data not written by pgpilot");
  }
  std::vector<HistoryEntry> out;
  for (const auto& item : j) {
    if (!item.is_object()) {
      return InvalidArgument("store key " + key + " holds a history entry that is not an object");
    }
    Reader r(key, item);
    HistoryEntry h;
    h.timeline = static_cast<Timeline>(r.Uint("timeline"));
    h.switch_lsn = r.LsnField("switch_lsn");
    h.parent = static_cast<Timeline>(r.Uint("parent_timeline", false));
    h.old_leader = r.String("old_leader");
    h.new_leader = r.String("new_leader");
    h.term = r.Uint("term");
    h.time = WallTime{r.Int("time_ms")};
    h.reason = r.String("reason");
    if (r.error()) return *r.error();
    out.push_back(std::move(h));
  }
  return out;
}

}  // namespace pgpilot
