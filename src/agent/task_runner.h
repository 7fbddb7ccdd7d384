// Runs one long action (bootstrap, clone, rewind, start) at a time in the background, so the HA
// loop keeps renewing its lease meanwhile. Its state is part of the next tick's observation.
#pragma once

#include <functional>
#include <mutex>
#include <thread>

#include "core/local_state.h"
#include "core/result.h"

namespace pgpilot {

class TaskRunner {
 public:
  ~TaskRunner();
  // Starts `work` unless a task is running; false when busy.
  bool Launch(TaskKind kind, std::function<Status()> work);
  TaskState State() const;
  // Waits for the running task, if any.
  void Join();

 private:
  mutable std::mutex mu_;
  TaskState state_;   // guarded by mu_
  std::thread thread_;
};

}  // namespace pgpilot
