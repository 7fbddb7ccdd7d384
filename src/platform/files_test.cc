// Secret files: who may read them (PostgreSQL's rule for key files).
#include "platform/files.h"

#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "support/temp_dir.h"

namespace pgpilot {
namespace {

using ::testing::HasSubstr;

std::string WriteSecret(const std::string& dir, mode_t mode) {
  std::string path = dir + "/secret";
  std::ofstream(path) << "s3cret\nsecond line ignored\n";
  chmod(path.c_str(), mode);
  return path;
}

TEST(ReadSecretFile, ReadsTheFirstLineOfAPrivateFile) {
  testing::ScratchDir dir("pgpilot-files-test");
  auto secret = ReadSecretFile(WriteSecret(dir.path(), 0600), "test password");
  ASSERT_TRUE(secret.ok()) << secret.error().ToString();
  EXPECT_EQ(*secret, "s3cret");
}

TEST(ReadSecretFile, RefusesAFileOthersMayReadAndSaysHowToFixIt) {
  testing::ScratchDir dir("pgpilot-files-test");
  std::string path = WriteSecret(dir.path(), 0644);
  auto secret = ReadSecretFile(path, "test password");
  ASSERT_FALSE(secret.ok());
  EXPECT_EQ(secret.error().code, ErrorCode::kPermissionDenied);
  EXPECT_THAT(secret.error().message, HasSubstr("mode 644"));
  EXPECT_THAT(secret.error().hint, HasSubstr("chmod 600 " + path));
  EXPECT_THAT(secret.error().ToString(), ::testing::Not(HasSubstr("s3cret")));
}

TEST(ReadSecretFile, GroupMayReadOnlyWhenRootOwnsTheFile) {
  // Kubernetes mounts secrets owned by root with the pod's fsGroup: 0640 must then work, while
  // the same mode on a file the agent's own user owns stays refused.
  testing::ScratchDir dir("pgpilot-files-test");
  std::string path = WriteSecret(dir.path(), 0640);
  auto secret = ReadSecretFile(path, "test password");
  if (geteuid() == 0) {
    EXPECT_TRUE(secret.ok()) << secret.error().ToString();
    ASSERT_EQ(chown(path.c_str(), 65534, 65534), 0);  // nobody: not root, not us
    EXPECT_FALSE(ReadSecretFile(path, "test password").ok());
  } else {
    EXPECT_FALSE(secret.ok());
  }
}

}  // namespace
}  // namespace pgpilot
