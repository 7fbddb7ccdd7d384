#include "platform/curl_support.h"

#include <curl/curl.h>

#include <algorithm>
#include <mutex>
#include <string>

namespace pgpilot {

void EnsureCurlInitialized() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

size_t AppendToString(char* data, size_t size, size_t count, void* out) {
  static_cast<std::string*>(out)->append(data, size * count);
  return size * count;
}

namespace {
constexpr Duration kMinimumRequestBudget{5};
}  // namespace

Result<Duration> RequestTimeout(Duration timeout,
                                std::optional<std::chrono::steady_clock::time_point> deadline,
                                const std::string& request) {
  if (!deadline) return timeout;
  // libcurl may end a timed-out request a millisecond early; what is left then is too little
  // for any request, and counts as the deadline passed (not a request sent with 1 ms).
  auto left = std::chrono::duration_cast<Duration>(*deadline - std::chrono::steady_clock::now());
  if (left < kMinimumRequestBudget) {
    return Unavailable(request + " not sent: the agent's lease deadline has passed",
                       "the store answered too slowly to prove the lease; the agent retries");
  }
  return std::min(timeout, left);
}

namespace {
// Idle handles kept: about the number of threads that call the store at once (HA loop, watch,
// API calls); more would only hold open connections nobody uses.
constexpr size_t kIdleHandlesKept = 4;
}  // namespace

CurlHandlePool::~CurlHandlePool() {
  for (void* h : idle_) curl_easy_cleanup(h);
}

void* CurlHandlePool::Take() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!idle_.empty()) {
      void* h = idle_.back();
      idle_.pop_back();
      curl_easy_reset(h);  // options back to defaults; connections, DNS and TLS session caches kept
      return h;
    }
  }
  EnsureCurlInitialized();
  return curl_easy_init();
}

void CurlHandlePool::Give(void* handle) {
  if (handle == nullptr) return;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (idle_.size() < kIdleHandlesKept) {
      idle_.push_back(handle);
      return;
    }
  }
  curl_easy_cleanup(handle);
}

PooledCurl::~PooledCurl() {
  curl_slist_free_all(headers);
  pool_.Give(handle);
}

void PooledCurl::AddHeader(const std::string& line) { headers = curl_slist_append(headers, line.c_str()); }

}  // namespace pgpilot
