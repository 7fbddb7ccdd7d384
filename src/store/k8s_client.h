// HTTP to the Kubernetes API server with libcurl: where the server is and who we are (in-cluster
// service account, a kubeconfig, or explicit settings), bearer tokens re-read as they rotate, TLS,
// and the mapping of transport and API errors to Status values. Include only from .cc files.
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "core/result.h"
#include "platform/curl_support.h"
#include "store/k8s_store.h"

namespace pgpilot {

// An answer the caller must interpret (200, 201, 404, 409); other statuses become errors.
struct KubernetesReply {
  long status = 0;
  nlohmann::json body;
};

class KubernetesClient {
 public:
  static Result<std::unique_ptr<KubernetesClient>> Create(const KubernetesConfig& config);
  ~KubernetesClient();

  // `method` GET/POST/PUT/PATCH/DELETE on `path` (from k8s_names.h, with the query if any);
  // PATCH bodies are JSON merge patches. 2xx, 404 and 409 come back as replies; 401/403 are
  // kPermissionDenied, 5xx, 429 and transport failures kUnavailable, other 4xx kInvalidArgument.
  Result<KubernetesReply> Call(const std::string& method, const std::string& path,
                               const nlohmann::json* body = nullptr);

  const std::string& namespace_name() const { return namespace_; }
  // Percent-encodes a query parameter's value (a label selector).
  static std::string QueryEscape(const std::string& value);
  std::string Describe() const { return server_; }
  // Requests end by `deadline` at the latest; nullopt: request_timeout alone.
  void SetDeadline(std::optional<std::chrono::steady_clock::time_point> deadline);

 private:
  KubernetesClient() = default;
  Result<std::string> Token();

  std::string server_;           // "https://10.96.0.1:443", no trailing '/'
  std::string namespace_;
  std::string token_file_;       // re-read every minute (projected tokens rotate)
  std::string static_token_;     // from a kubeconfig
  std::string ca_file_;
  std::string ca_pem_;           // certificate-authority-data, decoded
  std::string client_cert_file_, client_key_file_;
  std::string client_cert_pem_, client_key_pem_;
  bool insecure_ = false;        // kubeconfig insecure-skip-tls-verify
  Duration request_timeout_{2000};

  std::mutex mu_;  // guards the token cache and the deadline
  CurlHandlePool handles_;  // kept connections to the API server, instead of one per request
  std::string token_;
  std::chrono::steady_clock::time_point token_read_at_;
  std::optional<std::chrono::steady_clock::time_point> deadline_;
};

}  // namespace pgpilot
