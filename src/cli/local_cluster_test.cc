// The files `pgpilot up` writes for a local cluster: where each member's socket goes.
#include "cli/local_cluster.h"

#include <sys/stat.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "platform/files.h"
#include "support/temp_dir.h"

namespace pgpilot {
namespace {

TEST(LocalCluster, EachMemberGetsAUnixSocketBesideItsData) {
  testing::ScratchDir scratch("pgpilot-local");
  LocalClusterSpec spec;
  spec.dir = JoinPath(scratch.path(), "c");
  auto cluster = CreateLocalCluster(spec);
  ASSERT_TRUE(cluster.ok()) << cluster.error().ToString();
  ASSERT_EQ(cluster->members.size(), 3u);
  for (const auto& m : cluster->members) {
    EXPECT_EQ(m.socket_dir, JoinPath(cluster->MemberDir(m.name), "run")) << m.name;
  }
}

TEST(LocalCluster, ADirectoryTooLongForASocketAddressFallsBackToTcp) {
  testing::ScratchDir scratch("pgpilot-local");
  LocalClusterSpec spec;
  spec.dir = JoinPath(scratch.path(), std::string(90, 'd'));
  auto cluster = CreateLocalCluster(spec);
  ASSERT_TRUE(cluster.ok()) << cluster.error().ToString();
  for (const auto& m : cluster->members) EXPECT_EQ(m.socket_dir, "") << m.name;
}

TEST(LocalCluster, PgTlsFilesAreCopiedForTheClusterAndEveryMemberVerifiesWithThem) {
  testing::ScratchDir scratch("pgpilot-local");
  std::string source = JoinPath(scratch.path(), "certs");
  ASSERT_TRUE(EnsureDirectory(source, 0700).ok());
  auto missing = ReadLocalTlsFiles(source);
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(missing.error().message, ::testing::HasSubstr("--pg-tls"));
  EXPECT_THAT(missing.error().message, ::testing::HasSubstr(JoinPath(source, "cert.pem")));
  EXPECT_THAT(missing.error().hint, ::testing::HasSubstr("key.pem"));

  ASSERT_TRUE(WriteFileAtomic(JoinPath(source, "cert.pem"), "CERT\n", 0644).ok());
  ASSERT_TRUE(WriteFileAtomic(JoinPath(source, "key.pem"), "KEY\n", 0600).ok());
  ASSERT_TRUE(WriteFileAtomic(JoinPath(source, "ca.pem"), "CA\n", 0644).ok());
  auto files = ReadLocalTlsFiles(source);
  ASSERT_TRUE(files.ok()) << files.error().ToString();

  LocalClusterSpec spec;
  spec.dir = JoinPath(scratch.path(), "c");
  spec.pg_tls = *files;
  auto cluster = CreateLocalCluster(spec);
  ASSERT_TRUE(cluster.ok()) << cluster.error().ToString();
  std::string tls = JoinPath(spec.dir, kLocalTlsDir);
  for (const auto& m : cluster->members) {  // as read back from agent.yaml
    EXPECT_EQ(m.pg_tls.mode, PgTlsMode::kVerifyCa) << m.name;
    EXPECT_EQ(m.pg_tls.cert_file, JoinPath(tls, "cert.pem"));
    EXPECT_EQ(m.pg_tls.key_file, JoinPath(tls, "key.pem"));
    EXPECT_EQ(m.pg_tls.ca_file, JoinPath(tls, "ca.pem"));
  }
  EXPECT_EQ(ReadFile(JoinPath(tls, "key.pem")).value(), "KEY\n");
  EXPECT_EQ(ReadFile(JoinPath(tls, "ca.pem")).value(), "CA\n");
  struct stat st{};
  ASSERT_EQ(stat(JoinPath(tls, "key.pem").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u) << "PostgreSQL refuses a key others may read";
  ASSERT_EQ(stat(tls.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);

  LocalClusterSpec plain;
  plain.dir = JoinPath(scratch.path(), "plain");
  auto without = CreateLocalCluster(plain);
  ASSERT_TRUE(without.ok()) << without.error().ToString();
  for (const auto& m : without->members) EXPECT_FALSE(m.pg_tls.enabled()) << m.name;
  EXPECT_FALSE(PathExists(JoinPath(plain.dir, kLocalTlsDir)));
}

}  // namespace
}  // namespace pgpilot
