// The fence watchdog's loop (RunFenceWatchdog) against real processes: it kills the postmaster
// named in postmaster.pid when the deadline passes, keeps killing one that appears afterwards
// (a start a frozen agent had launched), and stops doing so once the agent arms it again.
#include "agent/fence_watchdog.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <string>
#include <thread>

#include "support/temp_dir.h"

namespace pgpilot {
namespace {

using std::chrono::milliseconds;

int64_t MonotonicNowNs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

// A stand-in postmaster: `sleep 60` in a session of its own, as the agent starts PostgreSQL.
pid_t StartFakePostmaster(const std::string& data_dir) {
  pid_t pid = fork();
  if (pid == 0) {
    setsid();
    execl("/bin/sleep", "sleep", "60", static_cast<char*>(nullptr));
    _exit(127);
  }
  std::ofstream(data_dir + "/postmaster.pid") << pid << "\n" << data_dir << "\n";
  return pid;
}

// A stand-in postmaster with one backend that, like PostgreSQL's, runs in a session of its own,
// and is frozen (stopped) in the middle of its work. Returns the postmaster; `backend` is set.
pid_t StartFakePostmasterWithFrozenBackend(const std::string& data_dir, pid_t* backend) {
  int fds[2];
  if (pipe(fds) != 0) return -1;
  pid_t pid = fork();
  if (pid == 0) {
    setsid();
    pid_t child = fork();
    if (child == 0) {
      setsid();
      raise(SIGSTOP);
      _exit(0);
    }
    (void)!write(fds[1], &child, sizeof child);
    execl("/bin/sleep", "sleep", "60", static_cast<char*>(nullptr));
    _exit(127);
  }
  close(fds[1]);
  if (read(fds[0], backend, sizeof *backend) != static_cast<ssize_t>(sizeof *backend)) *backend = -1;
  close(fds[0]);
  std::ofstream(data_dir + "/postmaster.pid") << pid << "\n" << data_dir << "\n";
  return pid;
}

// Whether `pid` (not our child) is gone or a zombie within `within`.
bool DiesWithin(pid_t pid, milliseconds within) {
  auto deadline = std::chrono::steady_clock::now() + within;
  while (std::chrono::steady_clock::now() < deadline) {
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    if (!std::getline(stat, line)) return true;
    size_t close = line.rfind(')');
    if (close != std::string::npos && close + 2 < line.size() && line[close + 2] == 'Z') return true;
    std::this_thread::sleep_for(milliseconds(5));
  }
  return false;
}

// Whether `pid` exited (and was reaped) within `within`.
bool ExitsWithin(pid_t pid, milliseconds within) {
  auto deadline = std::chrono::steady_clock::now() + within;
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == pid) return true;
    std::this_thread::sleep_for(milliseconds(5));
  }
  return false;
}

void Send(int fd, int64_t value) { ASSERT_EQ(write(fd, &value, sizeof value), static_cast<ssize_t>(sizeof value)); }

TEST(FenceWatchdog, KeepsKillingAPostmasterThatStartsAfterTheDeadlineUntilToldOtherwise) {
  testing::ScratchDir dir("pgpilot-watchdog-test");
  int fds[2];
  ASSERT_EQ(pipe2(fds, O_CLOEXEC), 0);  // the fake postmasters must not hold the pipe open
  // The watchdog runs as its own process, as in production (it ignores SIGTERM, which must not
  // leak into this test binary's later children).
  pid_t watchdog = fork();
  if (watchdog == 0) {
    close(fds[1]);
    _exit(RunFenceWatchdog(fds[0], dir.path()));
  }
  close(fds[0]);

  pid_t first = StartFakePostmaster(dir.path());
  Send(fds[1], MonotonicNowNs() + 100'000'000);  // deadline in 100 ms
  EXPECT_TRUE(ExitsWithin(first, milliseconds(2000))) << "killed at the deadline";

  // The deadline has passed and the agent said nothing since: a postmaster that appears now (a
  // start launched before a freeze) is killed too, within the watchdog's 10 ms poll.
  std::this_thread::sleep_for(milliseconds(100));
  pid_t late = StartFakePostmaster(dir.path());
  EXPECT_TRUE(ExitsWithin(late, milliseconds(1000))) << "a late postmaster must not survive";

  // Disarmed (the agent saw PostgreSQL down and starts it read-only): left alone.
  Send(fds[1], 0);
  std::this_thread::sleep_for(milliseconds(50));
  pid_t replica = StartFakePostmaster(dir.path());
  EXPECT_FALSE(ExitsWithin(replica, milliseconds(300)));
  kill(replica, SIGKILL);
  EXPECT_TRUE(ExitsWithin(replica, milliseconds(1000)));

  // Armed again with a later deadline: the new postmaster is the agent's to run.
  Send(fds[1], MonotonicNowNs() + 60'000'000'000);
  std::this_thread::sleep_for(milliseconds(50));
  pid_t allowed = StartFakePostmaster(dir.path());
  EXPECT_FALSE(ExitsWithin(allowed, milliseconds(300)));

  Send(fds[1], 0);  // disarm, then the agent goes away: the watchdog exits
  close(fds[1]);
  EXPECT_TRUE(ExitsWithin(watchdog, milliseconds(2000))) << "the watchdog exits once disarmed and alone";
  EXPECT_FALSE(ExitsWithin(allowed, milliseconds(50))) << "disarmed: nothing killed on exit";
  kill(allowed, SIGKILL);
  EXPECT_TRUE(ExitsWithin(allowed, milliseconds(1000)));
}

TEST(FenceWatchdog, KillsEveryBackendOfThePostmasterEvenFrozenOnesInSessionsOfTheirOwn) {
  testing::ScratchDir dir("pgpilot-watchdog-test");
  int fds[2];
  ASSERT_EQ(pipe2(fds, O_CLOEXEC), 0);
  pid_t watchdog = fork();
  if (watchdog == 0) {
    close(fds[1]);
    _exit(RunFenceWatchdog(fds[0], dir.path()));
  }
  close(fds[0]);
  pid_t backend = 0;
  pid_t postmaster = StartFakePostmasterWithFrozenBackend(dir.path(), &backend);
  ASSERT_GT(backend, 0);
  EXPECT_FALSE(DiesWithin(backend, milliseconds(100))) << "alive (stopped) before the deadline";
  Send(fds[1], MonotonicNowNs() + 50'000'000);
  EXPECT_TRUE(ExitsWithin(postmaster, milliseconds(2000)));
  EXPECT_TRUE(DiesWithin(backend, milliseconds(2000)))
      << "a frozen backend that survived would acknowledge its commit once thawed";
  kill(backend, SIGKILL);
  Send(fds[1], 0);
  close(fds[1]);
  EXPECT_TRUE(ExitsWithin(watchdog, milliseconds(2000)));
}

}  // namespace
}  // namespace pgpilot
