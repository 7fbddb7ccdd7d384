// TLS between members (postgresql.tls): the server's certificate and key, the CA members verify
// each other with, and how strictly a member checks the one it connects to. The libpq parameters
// are pure; CheckTlsFiles reads the files the way PostgreSQL and libpq will.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/result.h"

namespace pgpilot {

enum class PgTlsMode {
  kOff,         // no TLS (PostgreSQL's ssl = off); pg_hba lines are `host`
  kOn,          // ssl = on; members connect with sslmode=require: encrypted, peer not verified
  kVerifyCa,    // ... sslmode=verify-ca: the peer's certificate is signed by ca_file
  kVerifyFull,  // ... sslmode=verify-full: and names the address we connect to
};

std::optional<PgTlsMode> ParsePgTlsMode(std::string_view text);  // "off", "on", "verify-ca", ...
const char* PgTlsModeName(PgTlsMode mode);

struct PgTls {
  PgTlsMode mode = PgTlsMode::kOff;
  std::string cert_file;  // the server's certificate (PEM), PostgreSQL's ssl_cert_file
  std::string key_file;   // its private key, ssl_key_file (0600 owned by the server's user)
  std::string ca_file;    // the CA that signed the members' certificates: ssl_ca_file, sslrootcert

  bool enabled() const { return mode != PgTlsMode::kOff; }
};

// The libpq parameters of a connection to another member (primary_conninfo, pg_basebackup,
// pg_rewind, the agent's own queries): sslmode, and sslrootcert when the mode verifies. Empty
// when TLS is off (libpq's default then applies, as before).
std::vector<std::pair<std::string, std::string>> MemberSslParams(const PgTls& tls);
// The same as libpq environment variables (PGSSLMODE, PGSSLROOTCERT), for pg_basebackup.
std::vector<std::pair<std::string, std::string>> MemberSslEnvironment(const PgTls& tls);

// What PostgreSQL demands of a private key file before it starts: owned by the server's user
// (`euid`) and readable by nobody else, or owned by root and readable by its group at most.
// Errors name the file, its owner and mode, and the chown/chmod that fixes it.
Status CheckPrivateKeyFile(const std::string& path, uid_t euid);

// Every file of an enabled `tls` exists, is readable and holds PEM of the expected kind (an
// unencrypted key: PostgreSQL would ask for a passphrase); the key passes CheckPrivateKeyFile.
// Run as the user PostgreSQL runs as. Ok when TLS is off.
Status CheckTlsFiles(const PgTls& tls, uid_t euid);

}  // namespace pgpilot
