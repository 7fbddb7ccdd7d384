// The fence watchdog: a separate process, in its own session, that kills PostgreSQL when the
// agent has not extended its lease deadline in time. It covers the agent being frozen (SIGSTOP,
// a stalled VM thread) or killed while its PostgreSQL is a primary: timing alone cannot make a
// frozen agent demote, but this process is not frozen with it.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>

#include "core/result.h"
#include "core/types.h"
#include "platform/log.h"
#include "platform/process.h"

namespace pgpilot {

class FenceWatchdog {
 public:
  // Spawns `pgpilot fence-watchdog --data-dir DIR`, connected to us by a pipe. It writes its log
  // lines to our stderr in `log_format`, naming `member` of `cluster`, like the agent's own.
  static Result<std::unique_ptr<FenceWatchdog>> Start(ProcessRunner& runner, const std::string& data_dir,
                                                      LogFormat log_format = LogFormat::kText,
                                                      const std::string& member = "",
                                                      const std::string& cluster = "");
  ~FenceWatchdog();

  // PostgreSQL must be dead by `deadline` (CLOCK_MONOTONIC) unless Arm is called again. Once the
  // deadline has passed, the watchdog also kills any postmaster that appears later (a start the
  // frozen agent had launched), until the agent arms or disarms it again.
  void Arm(MonoTime deadline);
  // PostgreSQL is known not to accept writes: nothing to enforce.
  void Disarm();
  bool armed() const { return armed_; }

 private:
  FenceWatchdog(int fd, pid_t pid) : fd_(fd), pid_(pid) {}
  void Send(int64_t value);

  int fd_;
  pid_t pid_;
  bool armed_ = false;
  MonoTime last_deadline_;
};

// The watchdog process's main loop: reads deadlines from `fd`; when one passes, SIGKILLs the
// process group of the postmaster named in DATA_DIR/postmaster.pid. Exits when the agent closed
// the pipe and nothing is armed.
int RunFenceWatchdog(int fd, const std::string& data_dir);

}  // namespace pgpilot
