#include "agent/fence_watchdog.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "platform/files.h"
#include "platform/log.h"
#include "platform/process.h"

namespace pgpilot {
namespace {

constexpr int kExpiredPollMs = 10;

int64_t MonotonicNs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

// Kills the postmaster of DATA_DIR if one runs, unless its pid is `already_killed` (the pid file
// a killed postmaster leaves behind may name a reused pid); `quiet`: say nothing when none runs.
// Returns the pid it killed, or 0.
pid_t KillPostgres(const std::string& data_dir, bool quiet, pid_t already_killed) {
  auto content = ReadFile(JoinPath(data_dir, "postmaster.pid"));
  if (!content.ok()) {
    if (!quiet) LogInfo("fence: lease deadline passed; PostgreSQL is not running");
    return 0;
  }
  pid_t pid = static_cast<pid_t>(std::strtol(content->c_str(), nullptr, 10));
  if (pid <= 0 || pid == already_killed || kill(pid, 0) != 0) {
    if (!quiet) LogInfo("fence: lease deadline passed; PostgreSQL is not running");
    return 0;
  }
  // Every backend too: one frozen in the middle of a commit would acknowledge it once thawed.
  KillProcessTree(pid);
  LogError("fence: the agent did not renew its leader lease in time (frozen, dead, or held up by a slow store or action): killed "
           "PostgreSQL (postmaster pid " + std::to_string(pid) + ") so it cannot accept writes");
  return pid;
}

}  // namespace

Result<std::unique_ptr<FenceWatchdog>> FenceWatchdog::Start(ProcessRunner& runner,
                                                            const std::string& data_dir,
                                                            LogFormat log_format,
                                                            const std::string& member,
                                                            const std::string& cluster) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return Internal(std::string("pipe: ") + std::strerror(errno));
  ProcessSpec spec{{SelfExecutable(), "fence-watchdog", "--data-dir", data_dir, "--log-format",
                    log_format == LogFormat::kJson ? "json" : "text", "--member", member,
                    "--cluster", cluster},
                   {}, "-", "", fds[0]};
  auto pid = runner.Spawn(spec);
  close(fds[0]);
  if (!pid.ok()) {
    close(fds[1]);
    return pid.error();
  }
  return std::unique_ptr<FenceWatchdog>(new FenceWatchdog(fds[1], *pid));
}

FenceWatchdog::~FenceWatchdog() {
  if (fd_ >= 0) close(fd_);  // EOF: the watchdog exits once nothing is armed
}

void FenceWatchdog::Send(int64_t value) {
  ssize_t n = write(fd_, &value, sizeof value);
  if (n != static_cast<ssize_t>(sizeof value)) {
    LogError(std::string("fence watchdog unreachable (") + std::strerror(errno) +
             "): a frozen agent would not be fenced");
  }
}

void FenceWatchdog::Arm(MonoTime deadline) {
  if (armed_ && deadline == last_deadline_) return;
  Send(deadline.since_epoch.count() > 0 ? deadline.since_epoch.count() : 1);
  armed_ = true;
  last_deadline_ = deadline;
}

void FenceWatchdog::Disarm() {
  if (!armed_) return;
  Send(0);
  armed_ = false;
}

int RunFenceWatchdog(int fd, const std::string& data_dir) {
  signal(SIGTERM, SIG_IGN);  // only the agent's pipe tells us to go
  signal(SIGINT, SIG_IGN);
  int64_t deadline = 0;      // 0: disarmed
  bool expired = false;      // the deadline passed and the agent has said nothing since
  pid_t killed = 0;          // the postmaster killed last
  bool agent_gone = false;
  while (true) {
    if (agent_gone && deadline == 0) return 0;
    int timeout_ms = -1;
    if (deadline != 0) {
      int64_t left = deadline - MonotonicNs();
      timeout_ms = left <= 0 ? 0 : static_cast<int>((left + 999999) / 1000000);
    } else if (expired) {
      // A frozen agent's background start may still bring up a postmaster: it is killed
      // before it finishes starting up (it writes postmaster.pid first).
      timeout_ms = kExpiredPollMs;
    }
    if (agent_gone) {
      if (timeout_ms > 0) usleep(static_cast<useconds_t>(timeout_ms) * 1000);
    } else {
      pollfd p{fd, POLLIN, 0};
      int r = poll(&p, 1, timeout_ms);
      if (r > 0) {
        int64_t value = 0;
        ssize_t n = read(fd, &value, sizeof value);
        if (n == sizeof value) {
          deadline = value;
          expired = false;
        } else if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN)) {
          agent_gone = true;
          if (deadline != 0) LogWarn("fence: the agent is gone while armed; enforcing its deadline");
        }
      }
    }
    if (deadline != 0 && MonotonicNs() >= deadline) {
      if (pid_t pid = KillPostgres(data_dir, /*quiet=*/false, killed); pid != 0) killed = pid;
      deadline = 0;
      expired = !agent_gone;
    } else if (expired) {
      if (pid_t pid = KillPostgres(data_dir, /*quiet=*/true, killed); pid != 0) killed = pid;
    }
  }
}

}  // namespace pgpilot
