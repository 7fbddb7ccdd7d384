// A primary frozen past its lease (SIGSTOP of its agent, its postmaster and every backend, as a
// VM stall does) while the write prober commits through the cluster's read-write connection
// string: once thawed, it must not acknowledge a single write after another member was promoted.
// The fence watchdog kills every backend, including those frozen in the middle of a commit.
#include <signal.h>

#include <chrono>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>

#include "harness.h"

namespace pgpilot::testing {
namespace {

using std::chrono::seconds;

constexpr int kTtl = 4;

// The processes whose parent is `pid`.
std::vector<pid_t> ChildrenOf(pid_t pid) {
  std::vector<pid_t> out;
  std::ifstream list("/proc/" + std::to_string(pid) + "/task/" + std::to_string(pid) + "/children");
  pid_t child = 0;
  while (list >> child) out.push_back(child);
  return out;
}

// "PROBE attempts=... split_brain=N ..." -> {"split_brain": "N", ...}
std::map<std::string, std::string> ParseProbe(const std::string& output) {
  std::map<std::string, std::string> fields;
  size_t at = output.find("PROBE ");
  if (at == std::string::npos) return fields;
  std::istringstream words(output.substr(at + 6, output.find('\n', at) - at - 6));
  std::string word;
  while (words >> word) {
    size_t eq = word.find('=');
    if (eq != std::string::npos) fields[word.substr(0, eq)] = word.substr(eq + 1);
  }
  return fields;
}

// The fence watchdog's process: the agent's child running `fence-watchdog`.
pid_t WatchdogOf(pid_t agent) {
  for (pid_t child : ChildrenOf(agent)) {
    std::ifstream cmdline("/proc/" + std::to_string(child) + "/cmdline");
    std::string text((std::istreambuf_iterator<char>(cmdline)), std::istreambuf_iterator<char>());
    if (text.find("fence-watchdog") != std::string::npos) return child;
  }
  return 0;
}

// Runs the prober while the primary is frozen past its lease (with its watchdog too, when
// `whole_machine`), until another member is promoted and 2 s more, then thaws it; returns the
// prober's summary fields.
std::map<std::string, std::string> FreezeThePrimary(LocalClusterUnderTest& cluster, bool whole_machine) {
  auto primary = cluster.Primary();
  EXPECT_TRUE(primary.has_value());
  if (!primary) return {};
  std::string error;
  std::string dsn = cluster.ReadWriteConninfo(&error);
  EXPECT_FALSE(dsn.empty()) << error;
  std::string out = cluster.dir() + "/probe.out";
  ProcessSpec prober{{PGPILOT_PROBER, "--dsn", dsn, "--log", cluster.dir() + "/probe.log"}, {}, out, "", -1};
  auto pid = Runner().Spawn(prober);
  EXPECT_TRUE(pid.ok()) << pid.error().ToString();
  if (!pid.ok()) return {};
  std::this_thread::sleep_for(seconds(3));

  // Freeze the agent, the postmaster and every backend (some are in the middle of a commit).
  std::vector<pid_t> frozen = {primary->agent_pid, primary->postgres_pid};
  for (pid_t child : ChildrenOf(primary->postgres_pid)) frozen.push_back(child);
  if (whole_machine) {
    pid_t watchdog = WatchdogOf(primary->agent_pid);
    EXPECT_NE(watchdog, 0) << "no fence watchdog found";
    frozen.push_back(watchdog);
  }
  for (pid_t p : frozen) kill(p, SIGSTOP);
  bool promoted = WaitUntil([&] {
    auto now = cluster.Primary();
    return now && now->name != primary->name;
  }, seconds(60));
  std::this_thread::sleep_for(seconds(2));
  for (pid_t p : frozen) kill(p, SIGCONT);
  EXPECT_TRUE(promoted) << cluster.ListJson().dump(2);
  std::this_thread::sleep_for(seconds(4));  // the thawed processes have had their chance

  SignalProcess(*pid, SIGTERM);
  auto status = Runner().Wait(*pid, Duration(60000));
  EXPECT_TRUE(status.has_value()) << "the prober did not finish";
  std::ifstream in(out);
  std::string output((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto probe = ParseProbe(output);
  EXPECT_FALSE(probe.empty()) << output;
  probe["output"] = output;
  return probe;
}

// Without the commit fence: the watchdog alone.
TEST(Freeze, AThawedOldPrimaryAcknowledgesNothingAfterTheNewOneWasPromoted) {
  LocalClusterUnderTest cluster(3, kTtl, "", {"--commit-fence", "false"});
  CommandResult up = cluster.Up();
  ASSERT_EQ(up.exit_code, 0) << up.output;
  auto probe = FreezeThePrimary(cluster, /*whole_machine=*/false);
  ASSERT_TRUE(probe.contains("acked"));
  EXPECT_GT(std::stoll(probe["acked"]), 100) << probe["output"];
  EXPECT_EQ(probe["split_brain"], "0") << "writes acknowledged by the old primary after the promotion\n"
                                       << probe["output"];
  EXPECT_TRUE(WaitUntil([&] { return cluster.Converged(3); }, seconds(90))) << cluster.ListJson().dump(2);
}

// The whole machine stalls (agent, watchdog and PostgreSQL frozen together, as a VM pause does):
// no watchdog can act in time, and only the commit fence keeps the thawed backends from
// acknowledging: their commits wait for a confirmation the agent no longer gives.
TEST(Freeze, WithTheCommitFenceAFrozenMachineAcknowledgesNothingAfterThePromotion) {
  LocalClusterUnderTest cluster(3, kTtl, "", {"--commit-fence", "true"});
  CommandResult up = cluster.Up();
  ASSERT_EQ(up.exit_code, 0) << up.output;
  auto probe = FreezeThePrimary(cluster, /*whole_machine=*/true);
  ASSERT_TRUE(probe.contains("acked"));
  EXPECT_GT(std::stoll(probe["acked"]), 100) << probe["output"];
  EXPECT_EQ(probe["split_brain"], "0") << "writes acknowledged by the old primary after the promotion\n"
                                       << probe["output"];
  EXPECT_EQ(probe["lost"], "0") << probe["output"];
  EXPECT_TRUE(WaitUntil([&] { return cluster.Converged(3); }, seconds(90))) << cluster.ListJson().dump(2);
}

}  // namespace
}  // namespace pgpilot::testing
