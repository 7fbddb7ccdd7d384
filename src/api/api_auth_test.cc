// The changing calls' authentication: who is let in, with which status code, and what a refusal says.
#include "api/api_auth.h"

#include <stdlib.h>
#include <sys/stat.h>

#include <fstream>
#include <optional>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "store/base64.h"
#include "support/temp_dir.h"

namespace pgpilot {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

const ApiCredentials kToken{"s3cret-token", "", ""};
const ApiCredentials kBasic{"", "operator", "pa:ss word"};
const ApiCredentials kBoth{"s3cret-token", "operator", "pa:ss word"};

std::string Basic(const std::string& user_and_password) { return "Basic " + Base64Encode(user_and_password); }

TEST(ConstantTimeEquals, EqualOnlyForTheSameBytes) {
  EXPECT_TRUE(ConstantTimeEquals("abc", "abc"));
  EXPECT_TRUE(ConstantTimeEquals("", ""));
  EXPECT_FALSE(ConstantTimeEquals("abd", "abc"));
  EXPECT_FALSE(ConstantTimeEquals("ab", "abc")) << "a prefix is not the secret";
  EXPECT_FALSE(ConstantTimeEquals("abcd", "abc")) << "nor is the secret with more after it";
  EXPECT_FALSE(ConstantTimeEquals("", "abc"));
  EXPECT_FALSE(ConstantTimeEquals(std::string("abc\0", 4), "abc")) << "a NUL byte is a byte";
}

TEST(CheckAuthorization, NothingConfiguredRefusesEveryCallWith403AndSaysWhatToSet) {
  for (const char* header : {"", "Bearer anything", "Basic b3A6cHc="}) {
    AuthOutcome out = CheckAuthorization(ApiCredentials{}, header);
    EXPECT_EQ(out.status, 403) << header;
    EXPECT_FALSE(out.allowed());
    EXPECT_THAT(out.problem, HasSubstr("api.auth"));
    EXPECT_THAT(out.hint, HasSubstr("api.auth.token_file"));
    EXPECT_THAT(out.challenges, IsEmpty()) << "no credential could help: nothing to challenge";
  }
}

TEST(CheckAuthorization, MissingCredentialsAre401WithAChallengePerAcceptedScheme) {
  AuthOutcome token = CheckAuthorization(kToken, "");
  EXPECT_EQ(token.status, 401);
  EXPECT_THAT(token.challenges, ElementsAre("Bearer realm=\"pgpilot\""));
  AuthOutcome basic = CheckAuthorization(kBasic, "   ");
  EXPECT_EQ(basic.status, 401);
  EXPECT_THAT(basic.challenges, ElementsAre("Basic realm=\"pgpilot\", charset=\"UTF-8\""));
  EXPECT_EQ(CheckAuthorization(kBoth, "").challenges.size(), 2u);
  EXPECT_THAT(token.hint, HasSubstr("Bearer"));
}

TEST(CheckAuthorization, TheRightTokenIsLetInWhateverTheSchemesCase) {
  for (const char* header : {"Bearer s3cret-token", "bearer s3cret-token", "BEARER  s3cret-token "}) {
    AuthOutcome out = CheckAuthorization(kToken, header);
    EXPECT_EQ(out.status, 200) << header << ": " << out.problem;
    EXPECT_EQ(out.who, "token");
  }
  EXPECT_TRUE(CheckAuthorization(kBoth, "Bearer s3cret-token").allowed());
}

TEST(CheckAuthorization, WrongOrMalformedCredentialsAre401AndTheRefusalNeverRepeatsThem) {
  for (const std::string& header :
       {std::string("Bearer s3cret-tokeX"), std::string("Bearer s3cret-token2"), std::string("Bearer s3cret"),
        std::string("Bearer "), std::string("Bearers3cret-token"), std::string("Token s3cret-token"),
        std::string("s3cret-token"), Basic("operator:pa:ss word")}) {
    AuthOutcome out = CheckAuthorization(kToken, header);
    EXPECT_EQ(out.status, 401) << header;
    EXPECT_FALSE(out.challenges.empty()) << header;
    EXPECT_THAT(out.problem, Not(HasSubstr("s3cret"))) << header;
    EXPECT_THAT(out.hint, Not(HasSubstr("s3cret"))) << header;
  }
  EXPECT_THAT(CheckAuthorization(kToken, "Bearer nope").problem, HasSubstr("wrong API token"));
  EXPECT_THAT(CheckAuthorization(kToken, Basic("operator:pa:ss word")).problem, HasSubstr("basic authentication is not accepted"));
}

TEST(CheckAuthorization, BasicAuthenticationNeedsBothUserAndPassword) {
  AuthOutcome ok = CheckAuthorization(kBasic, Basic("operator:pa:ss word"));
  EXPECT_EQ(ok.status, 200) << ok.problem;
  EXPECT_EQ(ok.who, "user operator");
  EXPECT_EQ(CheckAuthorization(kBasic, Basic("operator:pa:ss wordX")).status, 401);
  EXPECT_EQ(CheckAuthorization(kBasic, Basic("Operator:pa:ss word")).status, 401);
  EXPECT_EQ(CheckAuthorization(kBasic, Basic("operator")).status, 401) << "no colon: malformed";
  EXPECT_EQ(CheckAuthorization(kBasic, "Basic !!!not-base64").status, 401);
  EXPECT_THAT(CheckAuthorization(kBasic, Basic("operator:wrong")).problem, HasSubstr("wrong API user or password"));
  EXPECT_EQ(CheckAuthorization(kBasic, "Bearer s3cret-token").status, 401) << "no token is configured";
}

TEST(AuthorizationHeader, WhatAClientSendsIsWhatTheCheckAccepts) {
  EXPECT_EQ(AuthorizationHeader(kToken), "Bearer s3cret-token");
  EXPECT_EQ(AuthorizationHeader(ApiCredentials{}), "");
  EXPECT_TRUE(CheckAuthorization(kBasic, AuthorizationHeader(kBasic)).allowed());
  EXPECT_EQ(AuthorizationHeader(kBoth), "Bearer s3cret-token") << "a token is preferred";
}

// Environment variables of this process, restored when the test ends.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = getenv(name)) old_ = old;
    if (value != nullptr) setenv(name, value, 1);
    else unsetenv(name);
  }
  ~ScopedEnv() {
    if (old_) setenv(name_, old_->c_str(), 1);
    else unsetenv(name_);
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

std::string WriteFile(const std::string& dir, const std::string& name, const std::string& content, mode_t mode) {
  std::string path = dir + "/" + name;
  std::ofstream(path) << content;
  chmod(path.c_str(), mode);
  return path;
}

TEST(LoadApiCredentials, ReadsPrivateFilesAndPrefersThemToTheEnvironment) {
  testing::ScratchDir dir("pgpilot-api-auth-test");
  ScopedEnv token_env(kApiTokenEnv, "from-env");
  ScopedEnv password_env(kApiPasswordEnv, "env-password");
  ApiAuthSettings settings{WriteFile(dir.path(), "token", "from-file\n", 0600), "operator",
                           WriteFile(dir.path(), "password", "file-password\n", 0600)};
  auto loaded = LoadApiCredentials(settings);
  ASSERT_TRUE(loaded.ok()) << loaded.error().ToString();
  EXPECT_EQ(loaded->token, "from-file");
  EXPECT_EQ(loaded->username, "operator");
  EXPECT_EQ(loaded->password, "file-password");
}

TEST(LoadApiCredentials, TheEnvironmentServesWhenNoFileIsNamed) {
  ScopedEnv token_env(kApiTokenEnv, "from-env");
  ScopedEnv password_env(kApiPasswordEnv, "env-password");
  auto loaded = LoadApiCredentials(ApiAuthSettings{"", "operator", ""});
  ASSERT_TRUE(loaded.ok()) << loaded.error().ToString();
  EXPECT_EQ(loaded->token, "from-env");
  EXPECT_EQ(loaded->password, "env-password");
}

TEST(LoadApiCredentials, NothingConfiguredIsNoCredentials) {
  ScopedEnv token_env(kApiTokenEnv, nullptr);
  ScopedEnv password_env(kApiPasswordEnv, nullptr);
  auto loaded = LoadApiCredentials(ApiAuthSettings{});
  ASSERT_TRUE(loaded.ok()) << loaded.error().ToString();
  EXPECT_FALSE(loaded->configured());
}

TEST(LoadApiCredentials, ASecretFileOthersMayReadIsRefusedByName) {
  testing::ScratchDir dir("pgpilot-api-auth-test");
  std::string token = WriteFile(dir.path(), "token", "t\n", 0644);
  auto loaded = LoadApiCredentials(ApiAuthSettings{token, "", ""});
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.error().code, ErrorCode::kPermissionDenied);
  EXPECT_THAT(loaded.error().message, HasSubstr("api.auth.token_file"));
  EXPECT_THAT(loaded.error().hint, HasSubstr("chmod 600"));
  std::string password = WriteFile(dir.path(), "password", "p\n", 0604);
  auto basic = LoadApiCredentials(ApiAuthSettings{"", "operator", password}, "--api-token-file", "--api-password-file");
  ASSERT_FALSE(basic.ok());
  EXPECT_THAT(basic.error().message, HasSubstr("--api-password-file"));
  EXPECT_FALSE(LoadApiCredentials(ApiAuthSettings{dir.path() + "/missing", "", ""}).ok());
}

TEST(LoadApiCredentials, AUserWithoutAPasswordOrAPasswordWithoutAUserIsRefused) {
  testing::ScratchDir dir("pgpilot-api-auth-test");
  ScopedEnv password_env(kApiPasswordEnv, nullptr);
  auto no_password = LoadApiCredentials(ApiAuthSettings{"", "operator", ""});
  ASSERT_FALSE(no_password.ok());
  EXPECT_THAT(no_password.error().message, HasSubstr("operator"));
  EXPECT_THAT(no_password.error().hint, HasSubstr(kApiPasswordEnv));
  std::string password = WriteFile(dir.path(), "password", "p\n", 0600);
  EXPECT_FALSE(LoadApiCredentials(ApiAuthSettings{"", "", password}).ok());
}

}  // namespace
}  // namespace pgpilot
