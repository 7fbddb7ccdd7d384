// What the agent's API is configured with: TLS files and where the credentials of its changing
// calls come from (files, or the environment). Plain values, parsed by agent/config.cc.
#pragma once

#include <string>

namespace pgpilot {

// Environment variables that may hold the API's secrets instead of files (containers).
inline constexpr const char* kApiTokenEnv = "PGPILOT_API_TOKEN";
inline constexpr const char* kApiPasswordEnv = "PGPILOT_API_PASSWORD";

struct ApiTlsSettings {
  std::string cert_file;       // the API serves HTTPS when this and key_file are set
  std::string key_file;        // private; mode 0600 (or 0640 owned by root)
  std::string client_ca_file;  // set: every client must present a certificate signed by it
  std::string ca_file;         // verifies the other members' API certificates; default: system CAs
  bool enabled() const { return !cert_file.empty(); }
};

struct ApiAuthSettings {
  std::string token_file;     // a bearer token; default: $PGPILOT_API_TOKEN
  std::string username;       // basic authentication, with password_file
  std::string password_file;  // default: $PGPILOT_API_PASSWORD (with username)
};

}  // namespace pgpilot
