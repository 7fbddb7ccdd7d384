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

Result<Duration> RequestTimeout(Duration timeout,
                                std::optional<std::chrono::steady_clock::time_point> deadline,
                                const std::string& request) {
  if (!deadline) return timeout;
  // Rounded up: a request cut to the deadline ends at or after it, never a fraction of a
  // millisecond before (the next call then knows the deadline passed instead of being sent
  // with a 1 ms timeout).
  auto left = std::chrono::ceil<Duration>(*deadline - std::chrono::steady_clock::now());
  if (left <= Duration(0)) {
    return Unavailable(request + " not sent: the agent's lease deadline has passed",
                       "the store answered too slowly to prove the lease; the agent retries");
  }
  return std::min(timeout, left);
}

}  // namespace pgpilot
