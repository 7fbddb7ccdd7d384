// The agent's changing calls: a JSON body in, the matching store operation (agent/operations.h,
// the same code `pgpilot ctl` runs) on the agent's own store connection, a JSON answer and a status
// code out. Callers check authentication first (api_auth.h); nothing here sees credentials.
//
// Answers are {"ok": true, ...} or {"ok": false, "error": "...", "hint": "..."}, with
// 200 done, 202 accepted (the agents carry it out next), 400 bad input (bad JSON, an unknown key
// or member), 409 refused by the cluster's state (no leader, not eligible, a concurrent write),
// 503 the store could not be asked.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>

#include "core/result.h"
#include "platform/clock.h"
#include "store/store.h"

namespace pgpilot {

struct ChangingCall {
  const char* method;
  const char* path;
  const char* body;  // the JSON it takes, for docs and errors
};
// POST /switchover, DELETE /switchover, POST /failover, /restart, /reinit, /pause, /resume,
// PATCH /config.
std::span<const ChangingCall> ChangingCalls();

struct ApiAnswer {
  int status = 200;
  std::string body;  // JSON
  std::string summary;  // one line for the log: what was done, or why not
};

// The status code for an error of an operation (see the header comment).
int HttpStatusFor(const Error& error);
// {"ok": false, "error": ..., "hint": ...}
std::string RefusalJson(const std::string& error, const std::string& hint);

class ChangingCallHandler {
 public:
  using StoreOpener = std::function<Result<std::unique_ptr<Store>>()>;
  // `open_store` is called on the first call (and again after it failed); `maximum_lag` is the
  // agent's maximum_lag_on_failover, used when the store's cluster-wide config sets none.
  ChangingCallHandler(StoreOpener open_store, const Clock& clock, uint64_t maximum_lag);

  // One call; safe from any thread (calls run one at a time: a store is used by one thread).
  ApiAnswer Handle(const std::string& method, const std::string& path, const std::string& body);

 private:
  ApiAnswer Dispatch(Store& store, const std::string& method, const std::string& path, const std::string& body);

  StoreOpener open_store_;
  const Clock& clock_;
  uint64_t maximum_lag_;
  std::mutex mu_;
  std::unique_ptr<Store> store_;  // guarded by mu_
};

}  // namespace pgpilot
