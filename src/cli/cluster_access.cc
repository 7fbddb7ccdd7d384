#include "cli/cluster_access.h"

#include <nlohmann/json.hpp>

#include "api/api_settings.h"
#include "api/status_json.h"
#include "platform/json_text.h"
#include "store/codec.h"

namespace pgpilot {
namespace {

using nlohmann::json;

class StoreAccess : public ClusterAccess {
 public:
  explicit StoreAccess(std::string cluster) : cluster_(std::move(cluster)) {}
  Status Open(const StoreConfig& config) {
    auto opened = OpenStore(config, cluster_, clock_);
    if (!opened.ok()) return opened.error();
    store_ = std::move(*opened);
    return Status::Ok();
  }

  Result<ClusterView> Load() override { return store_->Load(); }
  std::string ClusterName() const override { return cluster_; }
  std::string Describe() const override { return "store " + store_->Describe(); }
  bool ReadsOwnWrites() const override { return true; }
  Result<SwitchoverRecord> Switchover(const SwitchoverParams& params) override {
    return RequestSwitchover(*store_, params, clock_.WallNow());
  }
  Result<std::optional<SwitchoverRecord>> CancelSwitchover() override { return pgpilot::CancelSwitchover(*store_); }
  Result<SwitchoverRecord> Failover(const std::string& to, bool force) override {
    return RequestFailover(*store_, to, force, clock_.WallNow());
  }
  Result<std::vector<SentRequest>> Restart(const std::string& member, bool pending) override {
    return RequestRestart(*store_, member, pending, clock_.WallNow());
  }
  Result<SentRequest> Reinit(const std::string& member) override {
    return RequestReinit(*store_, member, clock_.WallNow());
  }
  void DropRefused(const std::string& member) override { DropRefusedRequest(*store_, member); }
  Result<DynamicConfig> ChangeSettings(const std::vector<std::pair<std::string, std::string>>& settings) override {
    return pgpilot::ChangeSettings(*store_, settings);
  }
  Result<DynamicConfig> SetPause(bool pause) override { return pgpilot::SetPause(*store_, pause); }
  Result<DynamicConfig> EditConfig(const std::function<Status(DynamicConfig*)>& change) override {
    return UpdateClusterConfig(*store_, change);
  }

 private:
  RealClock clock_;  // outlives store_, which keeps a reference
  std::unique_ptr<Store> store_;
  std::string cluster_;
};

class ApiAccess : public ClusterAccess {
 public:
  ApiAccess(std::string url, ApiClientOptions options) : url_(std::move(url)), options_(std::move(options)) {}

  Result<ClusterView> Load() override {
    auto reply = Call("GET", "/cluster", "");
    if (!reply.ok()) return reply.error();
    auto report = ParseClusterJson(*reply);
    if (!report.ok()) return report.error();
    if (!report->cluster.empty()) cluster_ = report->cluster;
    return report->view;
  }
  std::string ClusterName() const override { return cluster_; }
  std::string Describe() const override { return "API " + url_; }
  bool ReadsOwnWrites() const override { return false; }

  Result<SwitchoverRecord> Switchover(const SwitchoverParams& params) override {
    json body = json::object();
    if (!params.to.empty()) body["to"] = params.to;
    if (params.not_before) body["at"] = FormatWallTime(*params.not_before);
    if (params.force) body["force"] = true;
    auto answer = Change("POST", "/switchover", body);
    if (!answer.ok()) return answer.error();
    return SwitchoverFrom(*answer, "switchover");
  }
  Result<std::optional<SwitchoverRecord>> CancelSwitchover() override {
    auto answer = Change("DELETE", "/switchover", json());
    if (!answer.ok()) return answer.error();
    auto it = answer->find("cancelled");
    if (it == answer->end() || it->is_null()) return std::optional<SwitchoverRecord>();
    auto record = DecodeSwitchover("DELETE /switchover", JsonText(*it));
    if (!record.ok()) return record.error();
    return std::optional<SwitchoverRecord>(*record);
  }
  Result<SwitchoverRecord> Failover(const std::string& to, bool force) override {
    auto answer = Change("POST", "/failover", json{{"to", to}, {"force", force}});
    if (!answer.ok()) return answer.error();
    return SwitchoverFrom(*answer, "switchover");
  }
  Result<std::vector<SentRequest>> Restart(const std::string& member, bool pending) override {
    json body = json::object();
    if (!member.empty()) body["member"] = member;
    if (pending) body["pending"] = true;
    auto answer = Change("POST", "/restart", body);
    if (!answer.ok()) return answer.error();
    return RequestsFrom(*answer, RequestKind::kRestart, pending);
  }
  Result<SentRequest> Reinit(const std::string& member) override {
    auto answer = Change("POST", "/reinit", json{{"member", member}});
    if (!answer.ok()) return answer.error();
    auto sent = RequestsFrom(*answer, RequestKind::kReinit, false);
    if (!sent.ok()) return sent.error();
    if (sent->size() != 1) return Internal("the agent's answer to POST /reinit names no request");
    return sent->front();
  }
  void DropRefused(const std::string&) override {}
  Result<DynamicConfig> ChangeSettings(const std::vector<std::pair<std::string, std::string>>& settings) override {
    json body = json::object();
    for (const auto& [key, value] : settings) {
      if (value.empty()) body[key] = nullptr;
      else body[key] = value;
    }
    auto answer = Change("PATCH", "/config", body);
    if (!answer.ok()) return answer.error();
    return ConfigFrom(*answer);
  }
  Result<DynamicConfig> SetPause(bool pause) override {
    auto answer = Change("POST", pause ? "/pause" : "/resume", json());
    if (!answer.ok()) return answer.error();
    return ConfigFrom(*answer);
  }
  Result<DynamicConfig> EditConfig(const std::function<Status(DynamicConfig*)>&) override {
    return InvalidArgument("editing the settings in an editor reads and writes the store: not over --api",
                           "use `edit-config --set KEY=VALUE` with --api, or name the cluster with --dir, "
                           "--config or --store");
  }

 private:
  // The body of a 2xx answer; the agent's refusal (error and hint) otherwise.
  Result<std::string> Call(const std::string& method, const std::string& path, const std::string& body) {
    auto reply = ApiCall(url_, method, path, body, options_);
    if (!reply.ok()) return reply.error();
    if (reply->status >= 200 && reply->status < 300) return reply->body;
    json j = json::parse(reply->body, nullptr, false);
    std::string error, hint;
    if (j.is_object()) {
      if (auto it = j.find("error"); it != j.end() && it->is_string()) error = it->get<std::string>();
      if (auto it = j.find("hint"); it != j.end() && it->is_string()) hint = it->get<std::string>();
    }
    std::string what = method + " " + url_ + path + " answered " + std::to_string(reply->status) +
                       (error.empty() ? "" : ": " + error);
    switch (reply->status) {
      case 400: return InvalidArgument(what, hint);
      case 401:
        return PermissionDenied(what, "ctl sends the token of --api-token-file, of the agent config given with "
                                      "--dir or --config, or of $" + std::string(kApiTokenEnv) +
                                      " (or --api-user with --api-password-file)");
      case 403: return PermissionDenied(what, hint);
      case 409: return FailedPrecondition(what, hint);
      case 503: return Unavailable(what, hint);
      default: return Internal(what, hint);
    }
  }
  Result<json> Change(const std::string& method, const std::string& path, const json& body) {
    auto answer = Call(method, path, body.is_null() ? "" : JsonText(body));
    if (!answer.ok()) return answer.error();
    json j = json::parse(*answer, nullptr, false);
    if (j.is_discarded() || !j.is_object()) {
      return Internal(method + " " + url_ + path + " answered something that is not a JSON object");
    }
    return j;
  }
  static Result<SwitchoverRecord> SwitchoverFrom(const json& answer, const char* key) {
    auto it = answer.find(key);
    if (it == answer.end()) return Internal(std::string("the agent's answer has no ") + key);
    return DecodeSwitchover("the agent's answer", JsonText(*it));
  }
  static Result<DynamicConfig> ConfigFrom(const json& answer) {
    auto it = answer.find("config");
    if (it == answer.end()) return Internal("the agent's answer has no config");
    return DecodeConfig("the agent's answer", JsonText(*it));
  }
  static Result<std::vector<SentRequest>> RequestsFrom(const json& answer, RequestKind kind, bool pending) {
    auto it = answer.find("requests");
    if (it == answer.end() || !it->is_array()) return Internal("the agent's answer has no requests");
    std::vector<SentRequest> out;
    for (const json& r : *it) {
      if (!r.is_object() || !r.contains("member") || !r["member"].is_string()) {
        return Internal("the agent's answer holds a request without a member");
      }
      SentRequest s;
      s.request.member = r["member"].get<std::string>();
      s.request.kind = kind;
      s.request.only_if_pending = pending;
      if (r.contains("requested_ms") && r["requested_ms"].is_number_integer()) {
        s.request.requested = WallTime{r["requested_ms"].get<int64_t>()};
      }
      if (r.contains("postgres_pid") && r["postgres_pid"].is_number_integer()) {
        s.postgres_pid_before = r["postgres_pid"].get<int64_t>();
      }
      out.push_back(s);
    }
    return out;
  }

  std::string url_;
  ApiClientOptions options_;
  std::string cluster_;
};

}  // namespace

Result<std::unique_ptr<ClusterAccess>> OpenStoreAccess(const StoreConfig& store, const std::string& cluster) {
  if (Status s = BecomeStoreOwner(store); !s.ok()) return s.error();
  auto access = std::make_unique<StoreAccess>(cluster);
  if (Status s = access->Open(store); !s.ok()) return s.error();
  return std::unique_ptr<ClusterAccess>(std::move(access));
}

std::unique_ptr<ClusterAccess> OpenApiAccess(const std::string& url, const ApiClientOptions& options) {
  return std::make_unique<ApiAccess>(url, options);
}

}  // namespace pgpilot
