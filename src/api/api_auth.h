// Who may make the agent's changing calls: the secrets a caller must present (a bearer token,
// basic authentication, or both), loaded once from files or the environment, and the check of one
// request's Authorization header against them in constant time. Nothing here logs a secret.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "api/api_settings.h"
#include "core/result.h"

namespace pgpilot {

struct ApiCredentials {
  std::string token;     // empty: bearer tokens are not accepted
  std::string username;  // empty: basic authentication is not accepted
  std::string password;
  bool configured() const { return !token.empty() || !username.empty(); }
};

// The secrets `settings` names: token_file (else $PGPILOT_API_TOKEN) and, with a username,
// password_file (else $PGPILOT_API_PASSWORD). Files must be private (ReadSecretFile's rule). No
// settings and no variables: nothing configured, and every changing call is refused.
// `token_what` and `password_what` name the settings in messages (ctl passes its flags' names).
Result<ApiCredentials> LoadApiCredentials(const ApiAuthSettings& settings,
                                          std::string_view token_what = "api.auth.token_file",
                                          std::string_view password_what = "api.auth.password_file");

// The verdict on one changing call.
struct AuthOutcome {
  int status = 200;      // 200 allowed; 401 missing, malformed or wrong credentials (RFC 7235:
                         // the client may try again with others); 403 nothing configured
  std::string who;       // allowed: "token" or "user NAME", for the log
  std::string problem;   // refused: why (never contains what the client sent)
  std::string hint;
  std::vector<std::string> challenges;  // 401: the WWW-Authenticate values to send
  bool allowed() const { return status == 200; }
};

// `authorization` is the request's Authorization header ("" when absent).
AuthOutcome CheckAuthorization(const ApiCredentials& credentials, std::string_view authorization);

// Whether `given` equals `expected`, in a time that depends on the length of `expected` only.
bool ConstantTimeEquals(std::string_view given, std::string_view expected);

// What a client sends: "Bearer TOKEN" when it has a token, else "Basic BASE64(user:password)",
// else "" (nothing to send).
std::string AuthorizationHeader(const ApiCredentials& credentials);

}  // namespace pgpilot
