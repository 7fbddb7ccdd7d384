// The files `pgpilot up` writes for a local cluster: where each member's socket goes.
#include "cli/local_cluster.h"

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

}  // namespace
}  // namespace pgpilot
