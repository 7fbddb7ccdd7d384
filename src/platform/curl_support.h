// What every libcurl user shares: one-time global initialisation and a body collector.
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>

#include "core/result.h"
#include "core/types.h"

namespace pgpilot {

// curl_global_init, once per process (thread-safe).
void EnsureCurlInitialized();
// A CURLOPT_WRITEFUNCTION appending to the std::string passed as CURLOPT_WRITEDATA.
size_t AppendToString(char* data, size_t size, size_t count, void* out);
// The timeout for one request: `timeout`, cut to what is left before `deadline` (the agent's
// lease deadline, Store::SetCallDeadline). kUnavailable naming `request` once it has passed.
Result<Duration> RequestTimeout(Duration timeout,
                                std::optional<std::chrono::steady_clock::time_point> deadline,
                                const std::string& request);

}  // namespace pgpilot
