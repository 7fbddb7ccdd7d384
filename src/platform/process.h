// Starting, signalling and reaping child processes. One reaper thread owns waitpid() for the
// whole process (PID 1 duty on Kubernetes), so no caller ever races another for an exit status.
// Secrets never go into argv: pass them through files or `env`.
#pragma once

#include <sys/types.h>

#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "core/result.h"
#include "core/types.h"

namespace pgpilot {

struct ProcessSpec {
  std::vector<std::string> argv;                               // argv[0] is the program path
  std::vector<std::pair<std::string, std::string>> env;        // added to (or replacing in) ours
  std::string output_file;   // append stdout and stderr here; "-": ours; empty: captured (Run) or /dev/null
  std::string working_dir;
  int pass_fd = -1;          // becomes fd 3 in the child; every other fd above 2 is closed
};

struct ExitStatus {
  int code = -1;    // exit code, or -1 when killed by a signal
  int signal = 0;   // the signal that killed it, or 0
  bool ok() const { return code == 0; }
  std::string ToString() const;
};

struct RunOutput {
  ExitStatus status;
  std::string output;  // stdout and stderr, when captured
};

class ProcessRunner {
 public:
  ProcessRunner();
  ~ProcessRunner();
  ProcessRunner(const ProcessRunner&) = delete;
  ProcessRunner& operator=(const ProcessRunner&) = delete;

  // Starts a child in a new session (its own process group) and returns at once.
  Result<pid_t> Spawn(const ProcessSpec& spec);
  // Runs a child to completion; on timeout kills its process group and returns an error.
  Result<RunOutput> Run(const ProcessSpec& spec, Duration timeout);
  // The exit status of a child we spawned, once it has exited.
  std::optional<ExitStatus> TryWait(pid_t pid);
  // Waits up to `timeout` for a child we spawned to exit.
  std::optional<ExitStatus> Wait(pid_t pid, Duration timeout);

 private:
  struct Child {
    bool tracked = false;               // spawned by us and not yet collected by a caller
    std::optional<ExitStatus> status;   // set once reaped
  };
  void ReapLoop();
  void Track(pid_t pid);
  void Record(pid_t pid, int wait_status);  // requires mu_
  std::optional<ExitStatus> Collect(pid_t pid);  // requires mu_

  std::mutex mu_;
  std::condition_variable cv_;
  std::map<pid_t, Child> children_;  // guarded by mu_
  bool stopping_ = false;                                 // guarded by mu_
  std::thread reaper_;
};

// True when a process with this pid exists and has not exited (a zombie counts as exited).
bool ProcessAlive(pid_t pid);
// True when every thread of the process is stopped (SIGSTOP has taken effect: kill() returns
// before it does, and a thread busy on another core may still finish a request meanwhile).
bool ProcessStopped(pid_t pid);
// Sends `signal` to the process; false if it does not exist.
bool SignalProcess(pid_t pid, int signal);
// SIGKILLs `pid`, its process group and every child of it, whatever session the child runs in
// (PostgreSQL's backends each call setsid, so the postmaster's group does not reach them). `pid`
// is stopped first, so it forks nothing more meanwhile. A backend frozen mid-commit dies without
// acknowledging it.
void KillProcessTree(pid_t pid);
// The path of the running program (/proc/self/exe).
std::string SelfExecutable();

}  // namespace pgpilot
