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

}  // namespace pgpilot
