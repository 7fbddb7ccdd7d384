// Test support: files the integration tests write and read around an agent (secrets, configs,
// logs), and handing a directory to the user PostgreSQL runs as.
#pragma once

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

#include "platform/users.h"

namespace pgpilot::testing {

inline void WriteTestFile(const std::string& path, const std::string& text, mode_t mode) {
  std::ofstream(path) << text;
  ASSERT_EQ(chmod(path.c_str(), mode), 0) << path;
}

// The whole file; "" when it cannot be read.
inline std::string ReadWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Everything under `dir` to the user PostgreSQL and the agent run as (when the test runs as root).
inline void GiveToPostgresUser(const std::string& dir) {
  if (geteuid() != 0) return;
  auto user = LookupUser("postgres");
  ASSERT_TRUE(user.ok()) << user.error().ToString();
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir)) {
    ASSERT_TRUE(ChownTo(entry.path().string(), *user).ok()) << entry.path();
  }
  ASSERT_TRUE(ChownTo(dir, *user).ok());
}

}  // namespace pgpilot::testing
