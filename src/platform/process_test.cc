// Process inspection and killing: alive, stopped, and the whole tree gone.
#include "platform/process.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include <gtest/gtest.h>

namespace pgpilot {
namespace {

// A child that runs a few threads (like etcd or the agent) until killed.
pid_t StartBusyChild() {
  pid_t pid = fork();
  if (pid == 0) {
    std::thread a([] { for (;;) pause(); });
    std::thread b([] { for (;;) std::this_thread::sleep_for(std::chrono::milliseconds(1)); });
    for (;;) pause();
  }
  return pid;
}

template <typename Predicate>
bool Eventually(Predicate predicate) {
  for (int i = 0; i < 2000; ++i) {
    if (predicate()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return false;
}

TEST(Process, AStoppedProcessIsReportedStoppedOnlyOnceEveryThreadHasStopped) {
  pid_t pid = StartBusyChild();
  ASSERT_GT(pid, 0);
  EXPECT_TRUE(ProcessAlive(pid));
  EXPECT_FALSE(ProcessStopped(pid));

  ASSERT_EQ(kill(pid, SIGSTOP), 0);
  EXPECT_TRUE(Eventually([&] { return ProcessStopped(pid); }));
  EXPECT_TRUE(ProcessAlive(pid)) << "a stopped process is still alive";

  ASSERT_EQ(kill(pid, SIGCONT), 0);
  EXPECT_TRUE(Eventually([&] { return !ProcessStopped(pid); }));

  KillProcessTree(pid);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFSIGNALED(status));
  EXPECT_FALSE(ProcessAlive(pid));
  EXPECT_FALSE(ProcessStopped(pid)) << "a process that is gone is not stopped";
}

TEST(Process, KillingATreeReachesChildrenInTheirOwnSessions) {
  int pipe_fds[2];
  ASSERT_EQ(pipe(pipe_fds), 0);
  pid_t parent = fork();
  if (parent == 0) {
    pid_t child = fork();
    if (child == 0) {
      setsid();  // as each PostgreSQL backend does
      for (;;) pause();
    }
    (void)!write(pipe_fds[1], &child, sizeof child);
    for (;;) pause();
  }
  close(pipe_fds[1]);
  pid_t child = 0;
  ASSERT_EQ(read(pipe_fds[0], &child, sizeof child), static_cast<ssize_t>(sizeof child));
  close(pipe_fds[0]);
  ASSERT_TRUE(ProcessAlive(child));

  KillProcessTree(parent);
  int status = 0;
  ASSERT_EQ(waitpid(parent, &status, 0), parent);
  // The grandchild is reaped by init (or a subreaper); it must at least be dead or a zombie.
  EXPECT_TRUE(Eventually([&] { return !ProcessAlive(child); }));
}

}  // namespace
}  // namespace pgpilot
