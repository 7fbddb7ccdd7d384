// One agent started directly from a config, refusing what it must not touch.
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "api/peer_client.h"
#include "harness.h"
#include "test_files.h"
#include "platform/process.h"
#include "platform/users.h"

namespace pgpilot::testing {
namespace {

using std::chrono::seconds;



TEST(AgentBadInput, DataDirectoryWithUnrelatedFilesBlocksTheMemberAndStaysUntouched) {
  TempDir dir("pgpilot-it-agent");
  std::string member = dir.path() + "/m";
  std::filesystem::create_directories(member + "/data");
  WriteTestFile(member + "/data/notes.txt", "someone else's file\n", 0644);
  WriteTestFile(dir.path() + "/su", "su-secret-1\n", 0600);
  WriteTestFile(dir.path() + "/repl", "repl-secret-1\n", 0600);
  int api_port = PickBasePort(1) + 100;
  std::string config = dir.path() + "/agent.yaml";
  WriteTestFile(config,
            "cluster: c\nname: a\ndata_dir: " + member + "/data\nstore:\n  sqlite: " + member +
                "/store.db\napi:\n  listen: 127.0.0.1:" + std::to_string(api_port) +
                "\npostgresql:\n  port: " + std::to_string(api_port - 100) +
                "\n  superuser:\n    username: postgres\n    password_file: " + dir.path() +
                "/su\n  replication:\n    username: replicator\n    password_file: " + dir.path() +
                "/repl\n",
            0644);
  GiveToPostgresUser(dir.path());

  ProcessRunner& runner = Runner();
  auto pid = runner.Spawn({{PGPILOT_BINARY, "agent", "--config", config}, {},
                           dir.path() + "/agent.log", dir.path(), -1});
  ASSERT_TRUE(pid.ok()) << pid.error().ToString();
  nlohmann::json status;
  bool blocked = WaitUntil(
      [&] {
        auto reply = HttpGet("http://127.0.0.1:" + std::to_string(api_port), "/status", Duration(1000));
        if (!reply.ok()) return false;
        status = nlohmann::json::parse(reply->body, nullptr, false);
        return !status.is_discarded() && status.value("state", "") == "blocked";
      },
      seconds(30));
  kill(*pid, SIGTERM);
  auto exit = runner.Wait(*pid, Duration(30000));
  EXPECT_TRUE(blocked) << status.dump(2);
  EXPECT_NE(status.value("reason", "").find("notes.txt"), std::string::npos) << status.dump(2);
  ASSERT_TRUE(exit.has_value());
  EXPECT_TRUE(std::filesystem::exists(member + "/data/notes.txt"));
  EXPECT_FALSE(std::filesystem::exists(member + "/data/PG_VERSION")) << "initdb ran over foreign files";

  // Nothing secret reached the log.
  std::ifstream log(dir.path() + "/agent.log");
  std::string text((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
  EXPECT_EQ(text.find("su-secret-1"), std::string::npos);
  EXPECT_EQ(text.find("repl-secret-1"), std::string::npos);
}

TEST(AgentBadInput, PasswordFileReadableByOthersIsRefused) {
  TempDir dir("pgpilot-it-agent");
  WriteTestFile(dir.path() + "/su", "x\n", 0644);
  WriteTestFile(dir.path() + "/repl", "y\n", 0600);
  std::string config = dir.path() + "/agent.yaml";
  WriteTestFile(config,
            "cluster: c\nname: a\ndata_dir: " + dir.path() + "/m/data\nstore:\n  sqlite: " +
                dir.path() + "/m/store.db\napi:\n  listen: 127.0.0.1:" +
                std::to_string(PickBasePort(1) + 100) + "\npostgresql:\n"
                "  superuser:\n    password_file: " + dir.path() +
                "/su\n  replication:\n    password_file: " + dir.path() + "/repl\n",
            0644);
  std::filesystem::create_directories(dir.path() + "/m");
  GiveToPostgresUser(dir.path());
  CommandResult r = RunPgpilot({"agent", "--config", config}, 30);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find(dir.path() + "/su"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("chmod 600"), std::string::npos) << r.output;
  EXPECT_FALSE(std::filesystem::exists(dir.path() + "/m/data/PG_VERSION"));
}

}  // namespace
}  // namespace pgpilot::testing
