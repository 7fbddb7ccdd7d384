#include "api/api_auth.h"

#include <cctype>
#include <cstdlib>

#include "platform/files.h"
#include "store/base64.h"

namespace pgpilot {
namespace {

constexpr const char* kRealm = "pgpilot";

// A secret from `file` when one is named, else from the environment variable `env`.
Result<std::string> SecretFromFileOrEnv(const std::string& file, const char* env, std::string_view what) {
  if (!file.empty()) return ReadSecretFile(file, what);
  const char* value = std::getenv(env);
  return std::string(value != nullptr ? value : "");
}

bool StartsWithScheme(std::string_view header, std::string_view scheme) {
  if (header.size() <= scheme.size() || header[scheme.size()] != ' ') return false;
  for (size_t i = 0; i < scheme.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(header[i])) != std::tolower(static_cast<unsigned char>(scheme[i]))) {
      return false;
    }
  }
  return true;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

AuthOutcome Refuse(const ApiCredentials& credentials, std::string problem) {
  AuthOutcome out;
  out.status = 401;
  out.problem = std::move(problem);
  if (!credentials.token.empty()) {
    out.challenges.push_back(std::string("Bearer realm=\"") + kRealm + "\"");
    out.hint = "send the API token as 'Authorization: Bearer TOKEN' (pgpilot ctl --api-token-file FILE)";
  }
  if (!credentials.username.empty()) {
    out.challenges.push_back(std::string("Basic realm=\"") + kRealm + "\", charset=\"UTF-8\"");
    if (out.hint.empty()) {
      out.hint = "send the API user and password with basic authentication "
                 "(pgpilot ctl --api-user NAME --api-password-file FILE)";
    }
  }
  return out;
}

}  // namespace

Result<ApiCredentials> LoadApiCredentials(const ApiAuthSettings& settings, std::string_view token_what,
                                          std::string_view password_what) {
  ApiCredentials out;
  auto token = SecretFromFileOrEnv(settings.token_file, kApiTokenEnv, token_what);
  if (!token.ok()) return token.error();
  out.token = *token;
  if (settings.username.empty()) {
    if (!settings.password_file.empty()) {
      return InvalidArgument(std::string(password_what) + " is given without a user name",
                             "name the user too, or leave the password file out");
    }
    return out;
  }
  auto password = SecretFromFileOrEnv(settings.password_file, kApiPasswordEnv, password_what);
  if (!password.ok()) return password.error();
  if (password->empty()) {
    return InvalidArgument("the API user " + settings.username + " is given without a password",
                           "name a private file holding the password (" + std::string(password_what) +
                               "), or set the environment variable " + kApiPasswordEnv);
  }
  out.username = settings.username;
  out.password = *password;
  return out;
}

bool ConstantTimeEquals(std::string_view given, std::string_view expected) {
  // Every byte of `expected` is compared whatever `given` holds: the time tells an attacker
  // nothing about how much of a guess was right.
  volatile unsigned char diff = given.size() == expected.size() ? 0 : 1;
  for (size_t i = 0; i < expected.size(); ++i) {
    unsigned char g = i < given.size() ? static_cast<unsigned char>(given[i]) : 0;
    diff = diff | (g ^ static_cast<unsigned char>(expected[i]));
  }
  return diff == 0;
}

AuthOutcome CheckAuthorization(const ApiCredentials& credentials, std::string_view authorization) {
  if (!credentials.configured()) {
    AuthOutcome out;
    out.status = 403;
    out.problem = "changing calls need api.auth configured on this agent";
    out.hint = "set api.auth.token_file (or api.auth.username and api.auth.password_file) in the "
               "agent's config and restart it (see docs/security.md)";
    return out;
  }
  authorization = Trim(authorization);
  if (authorization.empty()) return Refuse(credentials, "this call needs authentication");
  if (StartsWithScheme(authorization, "Bearer")) {
    std::string_view token = Trim(authorization.substr(7));
    if (credentials.token.empty()) return Refuse(credentials, "bearer tokens are not accepted by this agent");
    if (token.empty()) return Refuse(credentials, "the bearer token is empty");
    if (!ConstantTimeEquals(token, credentials.token)) return Refuse(credentials, "wrong API token");
    AuthOutcome out;
    out.who = "token";
    return out;
  }
  if (StartsWithScheme(authorization, "Basic")) {
    if (credentials.username.empty()) return Refuse(credentials, "basic authentication is not accepted by this agent");
    auto decoded = Base64Decode(Trim(authorization.substr(6)));
    size_t colon = decoded ? decoded->find(':') : std::string::npos;
    if (colon == std::string::npos) return Refuse(credentials, "malformed basic authentication");
    std::string_view user = std::string_view(*decoded).substr(0, colon);
    std::string_view password = std::string_view(*decoded).substr(colon + 1);
    // Both compared, always: the time does not tell a right user name from a wrong one.
    bool user_ok = ConstantTimeEquals(user, credentials.username);
    bool password_ok = ConstantTimeEquals(password, credentials.password);
    if (!(user_ok && password_ok)) return Refuse(credentials, "wrong API user or password");
    AuthOutcome out;
    out.who = "user " + credentials.username;
    return out;
  }
  return Refuse(credentials, "unsupported authorization scheme (use Bearer or Basic)");
}

std::string AuthorizationHeader(const ApiCredentials& credentials) {
  if (!credentials.token.empty()) return "Bearer " + credentials.token;
  if (!credentials.username.empty()) {
    return "Basic " + Base64Encode(credentials.username + ":" + credentials.password);
  }
  return "";
}

}  // namespace pgpilot
