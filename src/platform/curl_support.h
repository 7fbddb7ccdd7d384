// What every libcurl user shares: one-time global initialisation, a body collector, request
// budgets and a pool of reusable handles.
#pragma once

#include <chrono>
#include <cstddef>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/result.h"
#include "core/types.h"

struct curl_slist;

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

// Finished easy handles kept for the next request: a handle keeps its open connections (and TLS
// sessions), so a client reuses one connection instead of opening one per request. Thread-safe.
class CurlHandlePool {
 public:
  CurlHandlePool() = default;
  ~CurlHandlePool();
  CurlHandlePool(const CurlHandlePool&) = delete;
  CurlHandlePool& operator=(const CurlHandlePool&) = delete;

  // A CURL* reset to libcurl's defaults (its connection cache kept); nullptr if none can be made.
  void* Take();
  // Back for the next Take; beyond a few idle handles it is cleaned up (closing its connections).
  void Give(void* handle);

 private:
  std::mutex mu_;
  std::vector<void*> idle_;
};

// One request's handle, taken from a pool and given back when this goes out of scope, with the
// header list the request sends (freed then).
class PooledCurl {
 public:
  explicit PooledCurl(CurlHandlePool& pool) : handle(pool.Take()), pool_(pool) {}
  ~PooledCurl();
  PooledCurl(const PooledCurl&) = delete;
  PooledCurl& operator=(const PooledCurl&) = delete;

  void AddHeader(const std::string& line);

  void* const handle;  // a CURL*; nullptr when libcurl could not make one
  curl_slist* headers = nullptr;

 private:
  CurlHandlePool& pool_;
};

}  // namespace pgpilot
