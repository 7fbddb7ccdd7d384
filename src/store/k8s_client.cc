#include "store/k8s_client.h"

#include <curl/curl.h>

#include <cctype>
#include <cstdio>
#include <cstdlib>

#include "platform/curl_support.h"
#include "platform/files.h"
#include "platform/json_text.h"
#include "platform/yaml_json.h"
#include "store/base64.h"
#include "store/k8s_names.h"

namespace pgpilot {
namespace {

using json = nlohmann::json;

constexpr auto kTokenRereadEvery = std::chrono::seconds(60);

std::string StringAt(const json& j, const char* key) {
  return j.is_object() && j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : "";
}

// The entry named `name` of a kubeconfig list ("clusters", "users", "contexts").
json NamedEntry(const json& config, const char* list, const std::string& name, const char* field) {
  if (!config.contains(list) || !config[list].is_array()) return json::object();
  for (const auto& item : config[list]) {
    if (StringAt(item, "name") == name && item.contains(field) && item[field].is_object()) return item[field];
  }
  return json::object();
}

// A kubeconfig's "...-data" field (base64) or its file path.
Result<std::string> DecodeData(const json& section, const char* key, const std::string& file) {
  std::string encoded = StringAt(section, key);
  if (encoded.empty()) return std::string();
  auto decoded = Base64Decode(encoded);
  if (!decoded) return InvalidArgument(file + ": " + key + " is not base64", "fix the kubeconfig");
  return *decoded;
}

// A path in a kubeconfig is relative to the kubeconfig's directory.
std::string ResolvePath(const std::string& path, const std::string& kubeconfig) {
  if (path.empty() || path.front() == '/') return path;
  return JoinPath(DirName(kubeconfig), path);
}

std::string ApiMessage(const json& body, long status) {
  std::string message = StringAt(body, "message");
  return message.empty() ? "HTTP " + std::to_string(status) : message;
}

}  // namespace

Result<std::unique_ptr<KubernetesClient>> KubernetesClient::Create(const KubernetesConfig& config) {
  EnsureCurlInitialized();
  std::unique_ptr<KubernetesClient> c(new KubernetesClient());
  c->request_timeout_ = config.request_timeout;
  c->server_ = config.api_server;
  c->namespace_ = config.namespace_name;
  c->token_file_ = config.token_file;
  c->ca_file_ = config.ca_file;

  if (!config.kubeconfig.empty()) {
    auto text = ReadFile(config.kubeconfig);
    if (!text.ok()) {
      return InvalidArgument("cannot read kubeconfig: " + text.error().message,
                             "set store.kubernetes.kubeconfig (or $KUBECONFIG) to a readable file");
    }
    auto as_json = YamlToJsonText(*text, config.kubeconfig);
    if (!as_json.ok()) return as_json.error();
    json kc = json::parse(*as_json, nullptr, false);
    std::string context_name = StringAt(kc, "current-context");
    if (context_name.empty()) {
      return InvalidArgument(config.kubeconfig + " has no current-context",
                             "run `kubectl config use-context NAME`");
    }
    json context = NamedEntry(kc, "contexts", context_name, "context");
    json cluster = NamedEntry(kc, "clusters", StringAt(context, "cluster"), "cluster");
    json user = NamedEntry(kc, "users", StringAt(context, "user"), "user");
    if (c->server_.empty()) c->server_ = StringAt(cluster, "server");
    if (c->namespace_.empty()) c->namespace_ = StringAt(context, "namespace");
    if (c->ca_file_.empty()) c->ca_file_ = ResolvePath(StringAt(cluster, "certificate-authority"), config.kubeconfig);
    auto ca = DecodeData(cluster, "certificate-authority-data", config.kubeconfig);
    if (!ca.ok()) return ca.error();
    c->ca_pem_ = *ca;
    c->insecure_ = StringAt(cluster, "insecure-skip-tls-verify") == "true";
    c->static_token_ = StringAt(user, "token");
    if (c->token_file_.empty()) c->token_file_ = ResolvePath(StringAt(user, "tokenFile"), config.kubeconfig);
    c->client_cert_file_ = ResolvePath(StringAt(user, "client-certificate"), config.kubeconfig);
    c->client_key_file_ = ResolvePath(StringAt(user, "client-key"), config.kubeconfig);
    auto cert = DecodeData(user, "client-certificate-data", config.kubeconfig);
    auto key = DecodeData(user, "client-key-data", config.kubeconfig);
    if (!cert.ok()) return cert.error();
    if (!key.ok()) return key.error();
    c->client_cert_pem_ = *cert;
    c->client_key_pem_ = *key;
    if (user.contains("exec") || user.contains("auth-provider")) {
      return InvalidArgument(config.kubeconfig + ": user of context " + context_name +
                                 " authenticates with an exec plugin or auth provider",
                             "use a context with a token or client certificate (e.g. a service "
                             "account token), pgpilot does not run credential plugins");
    }
    if (c->server_.empty()) {
      return InvalidArgument(config.kubeconfig + ": context " + context_name + " names no cluster server",
                             "fix the kubeconfig or set store.kubernetes.api_server");
    }
  } else if (c->server_.empty()) {
    // In a pod: the service the kubelet describes in the environment, the service account's files.
    const char* host = std::getenv(std::string(k8s::kServiceHostEnv).c_str());
    const char* port = std::getenv(std::string(k8s::kServicePortEnv).c_str());
    if (host == nullptr || port == nullptr) {
      return InvalidArgument("no Kubernetes API server configured and not running in a pod (" +
                                 std::string(k8s::kServiceHostEnv) + " is not set)",
                             "set store.kubernetes.api_server or kubeconfig, or run inside the cluster");
    }
    std::string h = host;
    if (h.find(':') != std::string::npos) h = "[" + h + "]";  // IPv6
    c->server_ = "https://" + h + ":" + port;
    std::string dir(k8s::kServiceAccountDir);
    if (c->token_file_.empty()) c->token_file_ = dir + "/token";
    if (c->ca_file_.empty()) c->ca_file_ = dir + "/ca.crt";
    if (c->namespace_.empty()) {
      auto ns = ReadFile(dir + "/namespace");
      if (ns.ok()) c->namespace_ = *ns;
      while (!c->namespace_.empty() && (c->namespace_.back() == '\n' || c->namespace_.back() == ' ')) {
        c->namespace_.pop_back();
      }
    }
  }
  while (!c->server_.empty() && c->server_.back() == '/') c->server_.pop_back();
  if (c->namespace_.empty()) c->namespace_ = "default";
  if (c->server_.rfind("https://", 0) != 0 && c->server_.rfind("http://", 0) != 0) {
    return InvalidArgument("Kubernetes API server '" + c->server_ + "' is not a URL",
                           "use https://HOST:PORT");
  }
  return c;
}

KubernetesClient::~KubernetesClient() = default;

std::string KubernetesClient::QueryEscape(const std::string& value) {
  std::string out;
  for (unsigned char ch : value) {
    if (std::isalnum(ch) || ch == '-' || ch == '_' || ch == '.' || ch == '~') {
      out += static_cast<char>(ch);
    } else {
      char buf[4];
      std::snprintf(buf, sizeof buf, "%%%02X", ch);
      out += buf;
    }
  }
  return out;
}

void KubernetesClient::SetDeadline(std::optional<std::chrono::steady_clock::time_point> deadline) {
  std::lock_guard<std::mutex> lock(mu_);
  deadline_ = deadline;
}

Result<std::string> KubernetesClient::Token() {
  if (token_file_.empty()) return static_token_;
  std::lock_guard<std::mutex> lock(mu_);
  auto now = std::chrono::steady_clock::now();
  if (token_.empty() || now - token_read_at_ >= kTokenRereadEvery) {
    auto text = ReadFile(token_file_);
    if (!text.ok()) {
      return PermissionDenied("cannot read the service account token " + token_file_ + ": " +
                                  text.error().message,
                              "mount the service account token (automountServiceAccountToken)");
    }
    token_ = *text;
    while (!token_.empty() && (token_.back() == '\n' || token_.back() == '\r')) token_.pop_back();
    token_read_at_ = now;
  }
  return token_;
}

Result<KubernetesReply> KubernetesClient::Call(const std::string& method, const std::string& path,
                                               const json* body) {
  std::optional<std::chrono::steady_clock::time_point> deadline;
  {
    std::lock_guard<std::mutex> lock(mu_);
    deadline = deadline_;
  }
  auto budget = RequestTimeout(request_timeout_, deadline, "Kubernetes API " + method + " " + path);
  if (!budget.ok()) return budget.error();
  Duration timeout = *budget;
  auto token = Token();
  if (!token.ok()) return token.error();

  PooledCurl c(handles_);
  CURL* h = c.handle;
  if (h == nullptr) return Internal("curl_easy_init failed");
  std::string url = server_ + path;
  std::string payload = body != nullptr ? JsonText(*body) : "";
  std::string answer;
  c.AddHeader("Accept: application/json");
  if (body != nullptr) {
    c.AddHeader(method == "PATCH" ? "Content-Type: application/merge-patch+json" : "Content-Type: application/json");
  }
  if (!token->empty()) c.AddHeader("Authorization: Bearer " + *token);
  curl_easy_setopt(h, CURLOPT_URL, url.c_str());
  curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method.c_str());
  if (body != nullptr) {
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, payload.c_str());
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, static_cast<long>(payload.size()));
  }
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, c.headers);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(timeout.count()));
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout.count()));
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, AppendToString);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &answer);
  if (!ca_file_.empty()) curl_easy_setopt(h, CURLOPT_CAINFO, ca_file_.c_str());
  curl_blob ca_blob{ca_pem_.data(), ca_pem_.size(), CURL_BLOB_NOCOPY};
  if (!ca_pem_.empty()) curl_easy_setopt(h, CURLOPT_CAINFO_BLOB, &ca_blob);
  if (insecure_) {
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
  }
  if (!client_cert_file_.empty()) curl_easy_setopt(h, CURLOPT_SSLCERT, client_cert_file_.c_str());
  if (!client_key_file_.empty()) curl_easy_setopt(h, CURLOPT_SSLKEY, client_key_file_.c_str());
  curl_blob cert_blob{client_cert_pem_.data(), client_cert_pem_.size(), CURL_BLOB_NOCOPY};
  curl_blob key_blob{client_key_pem_.data(), client_key_pem_.size(), CURL_BLOB_NOCOPY};
  if (!client_cert_pem_.empty()) curl_easy_setopt(h, CURLOPT_SSLCERT_BLOB, &cert_blob);
  if (!client_key_pem_.empty()) curl_easy_setopt(h, CURLOPT_SSLKEY_BLOB, &key_blob);

  CURLcode rc = curl_easy_perform(h);
  long status = 0;
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
  if (rc != CURLE_OK) {
    bool tls = rc == CURLE_PEER_FAILED_VERIFICATION || rc == CURLE_SSL_CONNECT_ERROR ||
               rc == CURLE_SSL_CACERT_BADFILE || rc == CURLE_SSL_CERTPROBLEM;
    return Unavailable("Kubernetes API " + server_ + " cannot be reached: " + curl_easy_strerror(rc),
                       tls ? "check the API server's CA (ca_file or the kubeconfig's "
                             "certificate-authority) and the client certificate"
                           : "check that the API server is up and reachable; the agent retries");
  }
  KubernetesReply reply{status, json::parse(answer, nullptr, false)};
  if (reply.body.is_discarded()) reply.body = json::object();
  std::string what = "Kubernetes API " + method + " " + path + ": " + ApiMessage(reply.body, status);
  if ((status >= 200 && status < 300) || status == 404 || status == 409) return reply;
  if (status == 401) {
    return PermissionDenied(what, "the API server did not accept our credentials: check the "
                                  "service account token or the kubeconfig's user");
  }
  if (status == 403) {
    return PermissionDenied(what, "the service account lacks a permission: apply the Role that "
                                  "`pgpilot k8s render` prints (leases, configmaps, pods)");
  }
  if (status == 429 || status >= 500) {
    return Unavailable(what, "the API server is overloaded or failing; the agent retries");
  }
  return InvalidArgument(what, "this looks like a bug in pgpilot's request or a foreign object "
                               "with the same name; check the object named in the message");
}

}  // namespace pgpilot
