#include "platform/process.h"

#include <cstdio>

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <algorithm>
#include <cstring>

extern char** environ;

namespace pgpilot {
namespace {

// The argv and envp of a child, prepared before fork() so the child only makes
// async-signal-safe calls.
struct PreparedExec {
  std::vector<std::string> env_storage;
  std::vector<char*> argv;
  std::vector<char*> envp;
};

void Prepare(const ProcessSpec& spec, PreparedExec* out) {
  for (char** e = environ; *e != nullptr; ++e) {
    std::string entry = *e;
    std::string key = entry.substr(0, entry.find('='));
    bool overridden = false;
    for (const auto& [k, v] : spec.env) overridden = overridden || k == key;
    if (!overridden) out->env_storage.push_back(entry);
  }
  for (const auto& [k, v] : spec.env) out->env_storage.push_back(k + "=" + v);
  for (const auto& a : spec.argv) out->argv.push_back(const_cast<char*>(a.c_str()));
  out->argv.push_back(nullptr);
  for (auto& e : out->env_storage) out->envp.push_back(e.data());
  out->envp.push_back(nullptr);
}

void CloseFrom(int lowest) {
  if (syscall(SYS_close_range, lowest, ~0U, 0) == 0) return;
  for (int fd = lowest; fd < 4096; ++fd) close(fd);
}

// Runs in the child after fork(): async-signal-safe calls only.
[[noreturn]] void ExecChild(const ProcessSpec& spec, const PreparedExec& prep, int capture_fd) {
  setsid();
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  signal(SIGPIPE, SIG_DFL);
  int devnull = open("/dev/null", O_RDWR);
  if (devnull >= 0) dup2(devnull, 0);
  bool inherit_output = spec.output_file == "-";
  int out = capture_fd;
  if (out < 0 && !spec.output_file.empty() && !inherit_output) {
    out = open(spec.output_file.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
  }
  if (out < 0) out = devnull;
  if (out >= 0 && !inherit_output) {
    dup2(out, 1);
    dup2(out, 2);
  }
  int lowest_to_close = 3;
  if (spec.pass_fd >= 0) {
    if (spec.pass_fd != 3) dup2(spec.pass_fd, 3);
    fcntl(3, F_SETFD, 0);  // keep it across exec
    lowest_to_close = 4;
  }
  CloseFrom(lowest_to_close);
  if (!spec.working_dir.empty() && chdir(spec.working_dir.c_str()) != 0) _exit(126);
  execve(prep.argv[0], prep.argv.data(), const_cast<char* const*>(prep.envp.data()));
  _exit(127);
}

}  // namespace

std::string ExitStatus::ToString() const {
  if (signal != 0) return "killed by signal " + std::to_string(signal);
  return "exit code " + std::to_string(code);
}

ProcessRunner::ProcessRunner() : reaper_([this] { ReapLoop(); }) {}

ProcessRunner::~ProcessRunner() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  reaper_.join();
}

void ProcessRunner::Track(pid_t pid) {
  std::lock_guard<std::mutex> lock(mu_);
  children_[pid].tracked = true;  // it may have been reaped already
  cv_.notify_all();
}

void ProcessRunner::Record(pid_t pid, int wait_status) {
  ExitStatus exit;
  if (WIFEXITED(wait_status)) exit.code = WEXITSTATUS(wait_status);
  if (WIFSIGNALED(wait_status)) exit.signal = WTERMSIG(wait_status);
  children_[pid].status = exit;
  // Orphans reparented to us (as PID 1) are reaped and forgotten.
  if (children_.size() > 256) {
    std::erase_if(children_, [](const auto& kv) { return !kv.second.tracked && kv.second.status; });
  }
  cv_.notify_all();
}

std::optional<ExitStatus> ProcessRunner::Collect(pid_t pid) {
  auto it = children_.find(pid);
  if (it == children_.end() || !it->second.status) return std::nullopt;
  ExitStatus s = *it->second.status;
  children_.erase(it);
  return s;
}

void ProcessRunner::ReapLoop() {
  while (true) {
    int status = 0;
    pid_t pid = waitpid(-1, &status, WNOHANG);
    std::unique_lock<std::mutex> lock(mu_);
    if (pid > 0) {
      Record(pid, status);
      continue;
    }
    if (stopping_) return;
    cv_.wait_for(lock, std::chrono::milliseconds(100));
    if (stopping_) return;
  }
}

Result<pid_t> ProcessRunner::Spawn(const ProcessSpec& spec) {
  if (spec.argv.empty()) return InvalidArgument("no program to run");
  if (access(spec.argv[0].c_str(), X_OK) != 0) {
    return NotFound("program " + spec.argv[0] + " is not executable: " + std::strerror(errno));
  }
  PreparedExec prep;
  Prepare(spec, &prep);
  pid_t pid = fork();
  if (pid < 0) return Internal(std::string("fork failed: ") + std::strerror(errno));
  if (pid == 0) ExecChild(spec, prep, -1);
  Track(pid);
  return pid;
}

Result<RunOutput> ProcessRunner::Run(const ProcessSpec& spec, Duration timeout) {
  if (spec.argv.empty()) return InvalidArgument("no program to run");
  if (access(spec.argv[0].c_str(), X_OK) != 0) {
    return NotFound("program " + spec.argv[0] + " is not executable: " + std::strerror(errno));
  }
  int pipefd[2] = {-1, -1};
  bool capture = spec.output_file.empty();
  if (capture && pipe2(pipefd, O_CLOEXEC) != 0) {
    return Internal(std::string("pipe failed: ") + std::strerror(errno));
  }
  PreparedExec prep;
  Prepare(spec, &prep);
  pid_t pid = fork();
  if (pid < 0) {
    if (capture) { close(pipefd[0]); close(pipefd[1]); }
    return Internal(std::string("fork failed: ") + std::strerror(errno));
  }
  if (pid == 0) ExecChild(spec, prep, capture ? pipefd[1] : -1);
  Track(pid);

  auto deadline = std::chrono::steady_clock::now() + timeout;
  RunOutput result;
  if (capture) {
    close(pipefd[1]);
    char buf[4096];
    while (true) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) break;
      pollfd p{pipefd[0], POLLIN, 0};
      int r = poll(&p, 1, static_cast<int>(std::min<int64_t>(left.count(), 1000)));
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) continue;
      ssize_t n = read(pipefd[0], buf, sizeof buf);
      if (n <= 0) break;  // EOF: the child (and its children) closed the pipe
      result.output.append(buf, static_cast<size_t>(n));
    }
    close(pipefd[0]);
  }
  auto left = std::chrono::duration_cast<Duration>(deadline - std::chrono::steady_clock::now());
  auto status = Wait(pid, left.count() > 0 ? left : Duration(0));
  if (!status) {
    kill(-pid, SIGKILL);
    Wait(pid, std::chrono::seconds(5));
    return Unavailable(spec.argv[0] + " did not finish within " + FormatSeconds(timeout) +
                       " and was killed");
  }
  result.status = *status;
  return result;
}

std::optional<ExitStatus> ProcessRunner::TryWait(pid_t pid) {
  std::lock_guard<std::mutex> lock(mu_);
  int status = 0;
  if (waitpid(pid, &status, WNOHANG) == pid) Record(pid, status);
  return Collect(pid);
}

std::optional<ExitStatus> ProcessRunner::Wait(pid_t pid, Duration timeout) {
  // Poll our own child directly (fast for short commands); the reaper thread may win the race
  // for the status, in which case it is in the map.
  auto deadline = std::chrono::steady_clock::now() + timeout;
  auto pause = std::chrono::milliseconds(1);
  while (true) {
    if (auto s = TryWait(pid)) return s;
    if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, pause);
    pause = std::min(pause * 2, std::chrono::milliseconds(50));
  }
}

namespace {

// One /proc stat line's state and parent: "PID (COMM) STATE PPID ...". COMM may hold spaces and
// parentheses, so the fields are read after the last ')'. False when the file cannot be read.
bool ReadProcStat(const std::string& path, char* state, long* ppid) {
  FILE* f = std::fopen(path.c_str(), "r");
  if (f == nullptr) return false;
  char buf[512];
  size_t n = std::fread(buf, 1, sizeof buf - 1, f);
  std::fclose(f);
  std::string stat(buf, n);
  size_t close = stat.rfind(')');
  if (close == std::string::npos) return false;
  return std::sscanf(stat.c_str() + close + 1, " %c %ld", state, ppid) == 2;
}

}  // namespace

bool ProcessAlive(pid_t pid) {
  if (pid <= 0 || (kill(pid, 0) != 0 && errno != EPERM)) return false;
  // A zombie (exited, not yet reaped by a parent that does not reap) is not alive.
  char state = 0;
  long ppid = 0;
  if (!ReadProcStat("/proc/" + std::to_string(pid) + "/stat", &state, &ppid)) return true;
  return state != 'Z';
}

bool ProcessStopped(pid_t pid) {
  std::string tasks = "/proc/" + std::to_string(pid) + "/task";
  DIR* dir = opendir(tasks.c_str());
  if (dir == nullptr) return false;
  bool any = false;
  bool all_stopped = true;
  while (dirent* entry = readdir(dir)) {
    if (entry->d_name[0] == '.') continue;
    char state = 0;
    long ppid = 0;
    if (!ReadProcStat(tasks + "/" + entry->d_name + "/stat", &state, &ppid)) continue;
    any = true;
    if (state != 'T' && state != 't') all_stopped = false;
  }
  closedir(dir);
  return any && all_stopped;
}

bool SignalProcess(pid_t pid, int sig) { return pid > 0 && kill(pid, sig) == 0; }

namespace {

// The processes whose parent is `pid`, from /proc.
std::vector<pid_t> ChildrenOf(pid_t pid) {
  std::vector<pid_t> children;
  DIR* proc = opendir("/proc");
  if (proc == nullptr) return children;
  while (dirent* entry = readdir(proc)) {
    char* end = nullptr;
    long child = std::strtol(entry->d_name, &end, 10);
    if (child <= 0 || *end != '\0') continue;
    char state = 0;
    long ppid = 0;
    if (ReadProcStat(std::string("/proc/") + entry->d_name + "/stat", &state, &ppid) &&
        ppid == pid) {
      children.push_back(static_cast<pid_t>(child));
    }
  }
  closedir(proc);
  return children;
}

}  // namespace

void KillProcessTree(pid_t pid) {
  if (pid <= 0) return;
  kill(pid, SIGSTOP);
  for (pid_t child : ChildrenOf(pid)) kill(child, SIGKILL);
  if (getpgid(pid) == pid) kill(-pid, SIGKILL);
  kill(pid, SIGKILL);
}

std::string SelfExecutable() {
  char buf[4096];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return "pgpilot";
  buf[n] = '\0';
  return buf;
}

}  // namespace pgpilot
