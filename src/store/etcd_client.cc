#include "store/etcd_client.h"

#include <curl/curl.h>

#include <mutex>

#include "platform/curl_support.h"
#include "platform/files.h"
#include "platform/json_text.h"

namespace pgpilot {
namespace {

using json = nlohmann::json;

// gRPC status codes etcd returns in "code".
constexpr int kGrpcUnauthenticated = 16;
constexpr int kGrpcPermissionDenied = 7;
constexpr int kGrpcUnavailable = 14;
constexpr int kGrpcDeadlineExceeded = 4;

void Configure(PooledCurl& c, const EtcdConfig& config, const std::string& url, const std::string& body,
               const std::string& token) {
  curl_easy_setopt(c.handle, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c.handle, CURLOPT_POST, 1L);
  curl_easy_setopt(c.handle, CURLOPT_POSTFIELDS, body.c_str());
  curl_easy_setopt(c.handle, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
  curl_easy_setopt(c.handle, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c.handle, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(config.request_timeout.count()));
  curl_easy_setopt(c.handle, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(c.handle, CURLOPT_TCP_KEEPIDLE, 2L);
  curl_easy_setopt(c.handle, CURLOPT_TCP_KEEPINTVL, 1L);
  c.AddHeader("Content-Type: application/json");
  if (!token.empty()) c.AddHeader("Authorization: " + token);
  curl_easy_setopt(c.handle, CURLOPT_HTTPHEADER, c.headers);
  if (!config.ca_file.empty()) curl_easy_setopt(c.handle, CURLOPT_CAINFO, config.ca_file.c_str());
  if (!config.cert_file.empty()) curl_easy_setopt(c.handle, CURLOPT_SSLCERT, config.cert_file.c_str());
  if (!config.key_file.empty()) curl_easy_setopt(c.handle, CURLOPT_SSLKEY, config.key_file.c_str());
}

// A request that got no answer: unreachable, timed out, or refused during the TLS handshake.
Error TransportError(const std::string& endpoint, CURLcode rc) {
  std::string what = "etcd " + endpoint + " cannot be reached: " + curl_easy_strerror(rc);
  switch (rc) {
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
      return Unavailable(what, "etcd's certificate is not trusted: set store.etcd.ca_file to the CA "
                               "that signed it, and check that the certificate names this host");
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
      if (endpoint.rfind("https://", 0) == 0) {
        return Unavailable(what, "the TLS handshake failed: if etcd requires client certificates, "
                                 "set store.etcd.cert_file and key_file to one signed by its CA");
      }
      break;
    default:
      break;
  }
  return Unavailable(what, "check that etcd runs and store.etcd.endpoints is right; the agent retries");
}

// An etcd error answer ({"error": ..., "code": N, "message": ...}) as a Status.
Error EtcdError(const std::string& endpoint, const std::string& path, long http, const std::string& body) {
  json j = json::parse(body, nullptr, false);
  std::string message = j.is_object() && j.contains("message") && j["message"].is_string()
                            ? j["message"].get<std::string>()
                            : body.substr(0, 200);
  int code = j.is_object() && j.contains("code") && j["code"].is_number_integer() ? j["code"].get<int>() : 0;
  std::string what = "etcd " + endpoint + path + ": " + message;
  bool auth_problem = message.find("permission denied") != std::string::npos ||
                      message.find("user name is empty") != std::string::npos ||
                      message.find("authentication") != std::string::npos ||
                      message.find("auth token") != std::string::npos;
  if (code == kGrpcUnauthenticated || code == kGrpcPermissionDenied || auth_problem) {
    return {ErrorCode::kPermissionDenied, what,
            "check store.etcd.username and password_file, and that the user's role may read and "
            "write the /pgpilot/ prefix"};
  }
  if (code == kGrpcUnavailable || code == kGrpcDeadlineExceeded || http >= 500) {
    return Unavailable(what, "etcd has no quorum or is overloaded; the agent retries");
  }
  if (!j.is_object()) {
    return FailedPrecondition("etcd " + endpoint + path + " answered HTTP " + std::to_string(http) +
                                  " with something that is not etcd's JSON",
                              "check store.etcd.endpoints: each must be an etcd v3 client URL "
                              "(e.g. http://10.0.0.5:2379)");
  }
  return Internal(what);
}

bool TokenRejected(const Error& e) {
  return e.code == ErrorCode::kPermissionDenied &&
         (e.message.find("invalid auth token") != std::string::npos ||
          e.message.find("token") != std::string::npos);
}

}  // namespace

std::string NormalizeEtcdEndpoint(const std::string& endpoint) {
  std::string e = endpoint;
  while (!e.empty() && e.back() == '/') e.pop_back();
  if (e.find("://") == std::string::npos) e = "http://" + e;
  return e;
}

Result<std::unique_ptr<EtcdClient>> EtcdClient::Create(const EtcdConfig& config) {
  EnsureCurlInitialized();
  if (config.endpoints.empty()) {
    return InvalidArgument("no etcd endpoints configured",
                           "set store.etcd.endpoints to one or more HOST:PORT of etcd's clients");
  }
  EtcdConfig normalized = config;
  for (auto& e : normalized.endpoints) e = NormalizeEtcdEndpoint(e);
  std::string password;
  if (!config.username.empty()) {
    if (config.password_file.empty()) {
      return InvalidArgument("store.etcd.username is set without password_file",
                             "set store.etcd.password_file to a file (0600) holding the password");
    }
    auto read = ReadSecretFile(config.password_file, "etcd password");
    if (!read.ok()) return read.error();
    password = *read;
    while (!password.empty() && (password.back() == '\n' || password.back() == '\r')) password.pop_back();
  }
  return std::unique_ptr<EtcdClient>(new EtcdClient(std::move(normalized), std::move(password)));
}

EtcdClient::EtcdClient(EtcdConfig config, std::string password)
    : config_(std::move(config)), password_(std::move(password)) {}

EtcdClient::~EtcdClient() = default;

std::string EtcdClient::Describe() const {
  std::string out = "etcd://";
  for (size_t i = 0; i < config_.endpoints.size(); ++i) {
    std::string e = config_.endpoints[i];
    size_t scheme = e.find("://");
    out += (i ? "," : "") + (scheme == std::string::npos ? e : e.substr(scheme + 3));
  }
  return out;
}

void EtcdClient::SetDeadline(std::optional<std::chrono::steady_clock::time_point> deadline) {
  std::lock_guard<std::mutex> lock(mu_);
  deadline_ = deadline;
}

std::string EtcdClient::Token() {
  std::lock_guard<std::mutex> lock(mu_);
  return token_;
}

Status EtcdClient::Authenticate(const std::string& endpoint) {
  json body = {{"name", config_.username}, {"password", password_}};
  auto answer = PostOnce(endpoint, "/v3/auth/authenticate", JsonText(body), false);
  if (!answer.ok()) {
    Error e = answer.error();
    // Never repeat what was sent: the body holds the password.
    if (e.code == ErrorCode::kInternal || e.code == ErrorCode::kInvalidArgument) {
      e.code = ErrorCode::kPermissionDenied;
      e.hint = "check store.etcd.username and password_file";
    }
    return e;
  }
  if (!answer->contains("token") || !(*answer)["token"].is_string()) {
    return PermissionDenied("etcd " + endpoint + " did not return an auth token for user " +
                                config_.username,
                            "check that authentication is enabled on etcd and the user exists");
  }
  std::lock_guard<std::mutex> lock(mu_);
  token_ = (*answer)["token"].get<std::string>();
  return Status::Ok();
}

Result<json> EtcdClient::PostOnce(const std::string& endpoint, const std::string& path,
                                  const std::string& body, bool with_token) {
  std::optional<std::chrono::steady_clock::time_point> deadline;
  {
    std::lock_guard<std::mutex> lock(mu_);
    deadline = deadline_;
  }
  auto budget = RequestTimeout(config_.request_timeout, deadline, "etcd " + endpoint + path);
  if (!budget.ok()) return budget.error();
  Duration timeout = *budget;
  PooledCurl c(handles_);
  if (c.handle == nullptr) return Internal("curl_easy_init failed");
  std::string answer;
  Configure(c, config_, endpoint + path, body, with_token ? Token() : "");
  curl_easy_setopt(c.handle, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(timeout.count()));
  curl_easy_setopt(c.handle, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout.count()));
  curl_easy_setopt(c.handle, CURLOPT_WRITEFUNCTION, AppendToString);
  curl_easy_setopt(c.handle, CURLOPT_WRITEDATA, &answer);
  CURLcode rc = curl_easy_perform(c.handle);
  if (rc != CURLE_OK) return TransportError(endpoint, rc);
  long http = 0;
  curl_easy_getinfo(c.handle, CURLINFO_RESPONSE_CODE, &http);
  if (http != 200) return EtcdError(endpoint, path, http, answer);
  // A unary call answers one object; a streamed one (lease keepalive) one object per line.
  size_t newline = answer.find('\n');
  json j = json::parse(newline == std::string::npos ? answer : answer.substr(0, newline), nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return FailedPrecondition("etcd " + endpoint + path + " answered something that is not JSON",
                              "check store.etcd.endpoints: each must be an etcd v3 client URL");
  }
  if (j.contains("result") && j.size() == 1) j = j["result"];
  if (!j.is_object()) {
    return FailedPrecondition("etcd " + endpoint + path + " answered a result that is not a JSON object",
                              "check store.etcd.endpoints: each must be an etcd v3 client URL");
  }
  if (j.contains("error") && j["error"].is_object()) {
    return EtcdError(endpoint, path, http, JsonText(j["error"]));
  }
  return j;
}

std::chrono::steady_clock::time_point EtcdClient::LastAnsweredSentAt() const {
  return std::chrono::steady_clock::time_point(std::chrono::steady_clock::duration(last_answered_sent_at_.load()));
}

Result<json> EtcdClient::Post(const std::string& path, const json& body) {
  std::string text = JsonText(body);
  const auto sent_at = std::chrono::steady_clock::now();
  size_t start;
  {
    std::lock_guard<std::mutex> lock(mu_);
    start = current_;
  }
  Error last = Unavailable("no etcd endpoint answered");
  for (size_t k = 0; k < config_.endpoints.size(); ++k) {
    size_t index = (start + k) % config_.endpoints.size();
    const std::string& endpoint = config_.endpoints[index];
    bool auth = !config_.username.empty();
    if (auth && Token().empty()) {
      if (Status s = Authenticate(endpoint); !s.ok()) {
        if (s.error().code != ErrorCode::kUnavailable) return s.error();
        last = s.error();
        continue;
      }
    }
    auto answer = PostOnce(endpoint, path, text, auth);
    if (!answer.ok() && auth && TokenRejected(answer.error())) {
      if (Status s = Authenticate(endpoint); !s.ok()) return s.error();
      answer = PostOnce(endpoint, path, text, true);
    }
    if (answer.ok() || answer.error().code != ErrorCode::kUnavailable) {
      std::lock_guard<std::mutex> lock(mu_);
      current_ = index;
      last_unavailable_ = false;
      if (sent_at > LastAnsweredSentAt()) last_answered_sent_at_ = sent_at.time_since_epoch().count();
      return answer;
    }
    last = answer.error();
  }
  last_unavailable_ = true;
  if (config_.endpoints.size() > 1) {
    last.message = "no etcd endpoint answered (" + Describe() + "); last: " + last.message;
  }
  return last;
}

namespace {

struct StreamState {
  std::string buffer;
  const std::function<void(const json&)>* on_object;
  const std::atomic<bool>* stop;
  std::string error;
};

size_t StreamWrite(char* data, size_t size, size_t n, void* p) {
  auto* s = static_cast<StreamState*>(p);
  s->buffer.append(data, size * n);
  size_t newline;
  while ((newline = s->buffer.find('\n')) != std::string::npos) {
    std::string line = s->buffer.substr(0, newline);
    s->buffer.erase(0, newline + 1);
    if (line.empty()) continue;
    json j = json::parse(line, nullptr, false);
    if (j.is_discarded()) continue;
    if (j.contains("error")) {
      s->error = JsonText(j["error"]);
      return 0;  // abort the transfer
    }
    (*s->on_object)(j.contains("result") ? j["result"] : j);
  }
  return s->stop->load() ? 0 : size * n;
}

int StreamProgress(void* p, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  return static_cast<StreamState*>(p)->stop->load() ? 1 : 0;
}

}  // namespace

Status EtcdClient::Stream(const std::string& path, const json& body,
                          const std::function<void(const json&)>& on_object,
                          const std::atomic<bool>& stop) {
  std::string endpoint;
  {
    std::lock_guard<std::mutex> lock(mu_);
    endpoint = config_.endpoints[current_];
  }
  if (!config_.username.empty() && Token().empty()) {
    if (Status s = Authenticate(endpoint); !s.ok()) return s;
  }
  PooledCurl c(handles_);
  if (c.handle == nullptr) return Internal("curl_easy_init failed");
  std::string text = JsonText(body);
  Configure(c, config_, endpoint + path, text, Token());
  StreamState state{"", &on_object, &stop, ""};
  curl_easy_setopt(c.handle, CURLOPT_WRITEFUNCTION, StreamWrite);
  curl_easy_setopt(c.handle, CURLOPT_WRITEDATA, &state);
  curl_easy_setopt(c.handle, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(c.handle, CURLOPT_XFERINFOFUNCTION, StreamProgress);
  curl_easy_setopt(c.handle, CURLOPT_XFERINFODATA, &state);
  CURLcode rc = curl_easy_perform(c.handle);
  if (!state.error.empty()) {
    Error e = EtcdError(endpoint, path, 200, state.error);
    if (TokenRejected(e)) {
      std::lock_guard<std::mutex> lock(mu_);
      token_.clear();
    }
    return e;
  }
  if (stop.load()) return Status::Ok();
  if (rc != CURLE_OK) {
    // Let the next Post find a live endpoint; the watch follows it.
    std::lock_guard<std::mutex> lock(mu_);
    current_ = (current_ + 1) % config_.endpoints.size();
    return Unavailable("etcd watch on " + endpoint + " ended: " + curl_easy_strerror(rc));
  }
  return Unavailable("etcd watch on " + endpoint + " ended");
}

}  // namespace pgpilot
