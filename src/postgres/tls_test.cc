// postgresql.tls: the modes' names and the start-up check of the certificate, CA and key files
// (PostgreSQL's own rule for who may own and read the key).
#include "postgres/tls.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <memory>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "support/temp_dir.h"
#include "support/test_certificates.h"

namespace pgpilot {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr uid_t kOtherUid = 4242;  // neither root nor the test's user

TEST(PgTlsMode, NamesParseBackAndNothingElseParses) {
  for (PgTlsMode mode : {PgTlsMode::kOff, PgTlsMode::kOn, PgTlsMode::kVerifyCa, PgTlsMode::kVerifyFull}) {
    EXPECT_EQ(ParsePgTlsMode(PgTlsModeName(mode)), mode) << PgTlsModeName(mode);
  }
  for (const char* bad : {"", "require", "verify_ca", "VERIFY-CA", "true", "disable"}) {
    EXPECT_FALSE(ParsePgTlsMode(bad).has_value()) << bad;
  }
}

// One set of real certificates for the suite (openssl takes a moment to make them).
class TlsFilesTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = std::make_unique<testing::ScratchDir>("pgpilot-tls-test");
    auto made = testing::MakeTestCertificates(dir_->path());
    ASSERT_TRUE(made.ok()) << made.error().ToString();
    certs_ = std::make_unique<testing::TestCertificates>(*made);
  }
  static void TearDownTestSuite() {
    certs_.reset();
    dir_.reset();
  }
  void SetUp() override {
    ASSERT_NE(certs_, nullptr);
    ASSERT_EQ(chmod(certs_->server_key.c_str(), 0600), 0);
  }

  PgTls Tls(PgTlsMode mode = PgTlsMode::kVerifyCa) const {
    return PgTls{mode, certs_->server_cert, certs_->server_key, certs_->ca};
  }
  std::string Write(const std::string& name, const std::string& text, mode_t mode) const {
    std::string path = dir_->path() + "/" + name;
    std::ofstream(path) << text;
    chmod(path.c_str(), mode);
    return path;
  }

  static std::unique_ptr<testing::ScratchDir> dir_;
  static std::unique_ptr<testing::TestCertificates> certs_;
};

std::unique_ptr<testing::ScratchDir> TlsFilesTest::dir_;
std::unique_ptr<testing::TestCertificates> TlsFilesTest::certs_;

TEST_F(TlsFilesTest, RealCertificatesWithAPrivateKeyPass) {
  for (PgTlsMode mode : {PgTlsMode::kOn, PgTlsMode::kVerifyCa, PgTlsMode::kVerifyFull}) {
    Status s = CheckTlsFiles(Tls(mode), geteuid());
    EXPECT_TRUE(s.ok()) << PgTlsModeName(mode) << ": " << s.ToString();
  }
  PgTls no_ca = Tls(PgTlsMode::kOn);
  no_ca.ca_file.clear();
  EXPECT_TRUE(CheckTlsFiles(no_ca, geteuid()).ok()) << "mode on needs no CA";
}

TEST_F(TlsFilesTest, OffChecksNothing) {
  PgTls off{PgTlsMode::kOff, "/nonexistent/cert.pem", "/nonexistent/key.pem", ""};
  EXPECT_TRUE(CheckTlsFiles(off, geteuid()).ok());
}

TEST_F(TlsFilesTest, AKeyOthersMayReadIsRefusedWithTheFileTheModeAndTheFix) {
  for (mode_t mode : {0644, 0640, 0604, 0660}) {
    ASSERT_EQ(chmod(certs_->server_key.c_str(), mode), 0);
    Status s = CheckTlsFiles(Tls(), geteuid());
    ASSERT_FALSE(s.ok()) << std::oct << mode;
    EXPECT_EQ(s.error().code, ErrorCode::kPermissionDenied);
    EXPECT_THAT(s.error().message, HasSubstr("postgresql.tls.key_file " + certs_->server_key));
    char octal[8];
    std::snprintf(octal, sizeof octal, "%04o", static_cast<unsigned>(mode));
    EXPECT_THAT(s.error().message, HasSubstr(std::string("mode ") + octal));
    EXPECT_THAT(s.error().hint, HasSubstr("chmod 600 " + certs_->server_key));
    EXPECT_THAT(s.error().ToString(), Not(HasSubstr("PRIVATE KEY"))) << "never the key itself";
  }
}

TEST_F(TlsFilesTest, RootMayOwnTheKeyWithItsGroupReadingItAsPostgresqlAllows) {
  // PostgreSQL running as another user accepts a root-owned key of mode 0640 (Kubernetes mounts
  // secrets so, with the pod's fsGroup) but not 0644; and no key owned by a third user.
  std::string key = Write("root-owned.key", "-----BEGIN PRIVATE KEY-----\n", 0640);
  if (geteuid() != 0) GTEST_SKIP() << "needs root to make files owned by root and by others";
  EXPECT_TRUE(CheckPrivateKeyFile(key, kOtherUid).ok());
  ASSERT_EQ(chmod(key.c_str(), 0644), 0);
  EXPECT_FALSE(CheckPrivateKeyFile(key, kOtherUid).ok());
  ASSERT_EQ(chmod(key.c_str(), 0640), 0);
  EXPECT_FALSE(CheckPrivateKeyFile(key, 0).ok()) << "owned by the server's own user: 0600 at most";

  ASSERT_EQ(chown(key.c_str(), kOtherUid + 1, 0), 0);
  ASSERT_EQ(chmod(key.c_str(), 0600), 0);
  Status s = CheckPrivateKeyFile(key, kOtherUid);
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.error().message, HasSubstr("belongs to"));
  EXPECT_THAT(s.error().hint, HasSubstr("chown"));
  EXPECT_TRUE(CheckPrivateKeyFile(key, kOtherUid + 1).ok()) << "its owner's own 0600 key";
}

TEST_F(TlsFilesTest, MissingFilesAreNamedByTheirConfigKey) {
  PgTls tls = Tls();
  tls.ca_file = dir_->path() + "/missing-ca.pem";
  Status s = CheckTlsFiles(tls, geteuid());
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, ErrorCode::kNotFound);
  EXPECT_THAT(s.error().message, HasSubstr("postgresql.tls.ca_file " + tls.ca_file));
  EXPECT_FALSE(s.error().hint.empty());

  tls = Tls();
  tls.key_file = dir_->path() + "/missing.key";
  s = CheckTlsFiles(tls, geteuid());
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.error().message, HasSubstr("postgresql.tls.key_file " + tls.key_file));

  tls = Tls();
  tls.cert_file = dir_->path() + "/missing.pem";
  s = CheckTlsFiles(tls, geteuid());
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.error().message, HasSubstr("postgresql.tls.cert_file " + tls.cert_file));
}

TEST_F(TlsFilesTest, FilesThatAreNotWhatTheKeySaysAreRefused) {
  PgTls swapped = Tls();
  swapped.cert_file = certs_->server_key;  // a key where the certificate belongs
  Status s = CheckTlsFiles(swapped, geteuid());
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.error().message, HasSubstr("postgresql.tls.cert_file"));
  EXPECT_THAT(s.error().message, HasSubstr("no PEM certificate"));

  PgTls not_a_key = Tls();
  not_a_key.key_file = Write("not-a-key.pem", "hello\n", 0600);
  s = CheckTlsFiles(not_a_key, geteuid());
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.error().message, HasSubstr("no PEM private key"));

  PgTls encrypted = Tls();
  encrypted.key_file = Write("encrypted.key",
                             "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIB\n-----END ENCRYPTED PRIVATE KEY-----\n",
                             0600);
  s = CheckTlsFiles(encrypted, geteuid());
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.error().message, HasSubstr("encrypted"));
  EXPECT_THAT(s.error().hint, HasSubstr("openssl pkey"));
}

TEST(MemberSslParams, OnlyWhenEnabledAndTheCaOnlyWhenVerifying) {
  PgTls tls{PgTlsMode::kOff, "/c.pem", "/k.pem", "/ca.pem"};
  EXPECT_TRUE(MemberSslParams(tls).empty());
  using P = std::vector<std::pair<std::string, std::string>>;
  tls.mode = PgTlsMode::kOn;
  EXPECT_EQ(MemberSslParams(tls), (P{{"sslmode", "require"}}));
  tls.mode = PgTlsMode::kVerifyCa;
  EXPECT_EQ(MemberSslParams(tls), (P{{"sslmode", "verify-ca"}, {"sslrootcert", "/ca.pem"}}));
  tls.mode = PgTlsMode::kVerifyFull;
  EXPECT_EQ(MemberSslParams(tls), (P{{"sslmode", "verify-full"}, {"sslrootcert", "/ca.pem"}}));
}

}  // namespace
}  // namespace pgpilot
