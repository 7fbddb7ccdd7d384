// HTTP to etcd's v3 JSON gateway with libcurl: endpoint failover, authentication tokens, TLS,
// and the mapping of transport and etcd errors to Status values. Include only from .cc files.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "core/result.h"
#include "platform/curl_support.h"
#include "store/etcd_store.h"

namespace pgpilot {

class EtcdClient {
 public:
  static Result<std::unique_ptr<EtcdClient>> Create(const EtcdConfig& config);
  ~EtcdClient();

  // POSTs `body` to `path` ("/v3/kv/range") on the current endpoint, failing over to the next
  // ones when an endpoint cannot be reached. A streamed answer's first object is unwrapped.
  Result<nlohmann::json> Post(const std::string& path, const nlohmann::json& body);

  // Streams `path` (a watch), calling `on_object` for every JSON object received, until the
  // stream ends, an error occurs, or `stop` becomes true. Returns why it ended.
  Status Stream(const std::string& path, const nlohmann::json& body,
                const std::function<void(const nlohmann::json&)>& on_object,
                const std::atomic<bool>& stop);

  std::string Describe() const;
  // Requests (not streams) end by `deadline` at the latest; nullopt: request_timeout alone.
  void SetDeadline(std::optional<std::chrono::steady_clock::time_point> deadline);
  // True when the most recent request found no endpoint that answered.
  bool LastRequestUnavailable() const { return last_unavailable_.load(); }
  // When the newest request that etcd answered (with anything) was sent; epoch if none was.
  std::chrono::steady_clock::time_point LastAnsweredSentAt() const;

 private:
  explicit EtcdClient(EtcdConfig config, std::string password);
  Result<nlohmann::json> PostOnce(const std::string& endpoint, const std::string& path,
                                  const std::string& body, bool with_token);
  Status Authenticate(const std::string& endpoint);
  std::string Token();

  EtcdConfig config_;
  std::string password_;
  std::mutex mu_;        // guards current_ and token_
  size_t current_ = 0;   // index of the endpoint that answered last
  std::string token_;
  std::atomic<bool> last_unavailable_{false};
  std::atomic<std::chrono::steady_clock::rep> last_answered_sent_at_{0};  // ticks; written under mu_
  std::optional<std::chrono::steady_clock::time_point> deadline_;  // guarded by mu_
  CurlHandlePool handles_;  // one kept connection per endpoint instead of one per request
};

// "127.0.0.1:2379" -> "http://127.0.0.1:2379"; URLs are kept as given (without a trailing '/').
std::string NormalizeEtcdEndpoint(const std::string& endpoint);

}  // namespace pgpilot
