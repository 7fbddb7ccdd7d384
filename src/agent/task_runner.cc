#include "agent/task_runner.h"

#include "platform/log.h"

namespace pgpilot {

TaskRunner::~TaskRunner() { Join(); }

bool TaskRunner::Launch(TaskKind kind, std::function<Status()> work) {
  std::lock_guard<std::mutex> lock(mu_);
  if (state_.running) return false;
  if (thread_.joinable()) thread_.join();  // the previous task has finished
  state_.kind = kind;
  state_.running = true;
  state_.sequence += 1;
  state_.succeeded = false;
  state_.error.clear();
  state_.retryable = false;
  thread_ = std::thread([this, kind, work = std::move(work)] {
    Status result = work();
    if (!result.ok()) LogError(std::string(TaskKindName(kind)) + " failed: " + result.ToString());
    else LogInfo(std::string(TaskKindName(kind)) + " finished");
    std::lock_guard<std::mutex> lock(mu_);
    state_.running = false;
    state_.succeeded = result.ok();
    state_.error = result.ok() ? "" : result.ToString();
    state_.retryable = !result.ok() && result.error().code == ErrorCode::kUnavailable;
  });
  return true;
}

TaskState TaskRunner::State() const {
  std::lock_guard<std::mutex> lock(mu_);
  return state_;
}

void TaskRunner::Join() {
  std::thread t;
  {
    std::lock_guard<std::mutex> lock(mu_);
    t = std::move(thread_);
  }
  if (t.joinable()) t.join();
}

}  // namespace pgpilot
