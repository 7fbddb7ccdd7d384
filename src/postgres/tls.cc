#include "postgres/tls.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>

#include "platform/files.h"
#include "platform/users.h"

namespace pgpilot {
namespace {

const char* SslMode(PgTlsMode mode) {
  switch (mode) {
    case PgTlsMode::kOff: return "";
    case PgTlsMode::kOn: return "require";
    case PgTlsMode::kVerifyCa: return "verify-ca";
    case PgTlsMode::kVerifyFull: return "verify-full";
  }
  return "";
}

bool Verifies(PgTlsMode mode) { return mode == PgTlsMode::kVerifyCa || mode == PgTlsMode::kVerifyFull; }

std::string UserName(uid_t uid) {
  auto user = LookupUserById(uid);
  return user.ok() ? user->name : "uid " + std::to_string(uid);
}

std::string Octal(mode_t mode) {
  char text[8];
  std::snprintf(text, sizeof text, "%04o", static_cast<unsigned>(mode & 07777));
  return text;
}

// The file's text, or an error naming the config key, the file and the fix.
Result<std::string> ReadTlsFile(const std::string& key, const std::string& path) {
  auto text = ReadFile(path);
  if (text.ok()) return text;
  if (text.error().code == ErrorCode::kNotFound) {
    return NotFound(key + " " + path + " does not exist",
                    "put the PEM file there, or correct " + key + " in the agent config");
  }
  return PermissionDenied(key + " " + path + " cannot be read by user " + UserName(geteuid()) +
                              ": " + text.error().message,
                          "make it readable by that user (the one PostgreSQL runs as), e.g. chown " +
                              UserName(geteuid()) + " " + path);
}

Status CheckCertificateFile(const std::string& key, const std::string& path) {
  auto text = ReadTlsFile(key, path);
  if (!text.ok()) return text.error();
  if (text->find("-----BEGIN CERTIFICATE-----") == std::string::npos) {
    return InvalidArgument(key + " " + path + " holds no PEM certificate (no '-----BEGIN CERTIFICATE-----')",
                           "give the certificate in PEM form (openssl x509 -in FILE -outform PEM)");
  }
  return Status::Ok();
}

}  // namespace

std::optional<PgTlsMode> ParsePgTlsMode(std::string_view text) {
  for (PgTlsMode mode : {PgTlsMode::kOff, PgTlsMode::kOn, PgTlsMode::kVerifyCa, PgTlsMode::kVerifyFull}) {
    if (text == PgTlsModeName(mode)) return mode;
  }
  return std::nullopt;
}

const char* PgTlsModeName(PgTlsMode mode) {
  switch (mode) {
    case PgTlsMode::kOff: return "off";
    case PgTlsMode::kOn: return "on";
    case PgTlsMode::kVerifyCa: return "verify-ca";
    case PgTlsMode::kVerifyFull: return "verify-full";
  }
  return "off";
}

std::vector<std::pair<std::string, std::string>> MemberSslParams(const PgTls& tls) {
  if (!tls.enabled()) return {};
  std::vector<std::pair<std::string, std::string>> out = {{"sslmode", SslMode(tls.mode)}};
  // Only when verifying: with sslmode=require and a root certificate, libpq verifies anyway.
  if (Verifies(tls.mode)) out.emplace_back("sslrootcert", tls.ca_file);
  return out;
}

std::vector<std::pair<std::string, std::string>> MemberSslEnvironment(const PgTls& tls) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& [key, value] : MemberSslParams(tls)) {
    if (key == "sslmode") out.emplace_back("PGSSLMODE", value);
    if (key == "sslrootcert") out.emplace_back("PGSSLROOTCERT", value);
  }
  return out;
}

Status CheckPrivateKeyFile(const std::string& path, uid_t euid) {
  const std::string key = "postgresql.tls.key_file";
  struct stat st{};
  if (stat(path.c_str(), &st) != 0) {
    return NotFound(key + " " + path + " does not exist",
                    "put the server's private key there (PEM), or correct " + key);
  }
  std::string user = UserName(euid);
  std::string fix = "chown " + user + " " + path + " && chmod 600 " + path +
                    " (or chown root:" + user + " and chmod 640)";
  // PostgreSQL's own rule (be-secure-common.c), checked here so the agent says so at start-up
  // instead of PostgreSQL failing to start with the reason only in its log.
  if (st.st_uid != euid && st.st_uid != 0) {
    return PermissionDenied(key + " " + path + " belongs to " + UserName(st.st_uid) +
                                "; PostgreSQL (running as " + user +
                                ") only accepts a key owned by itself or by root",
                            fix);
  }
  mode_t forbidden = st.st_uid == euid ? (S_IRWXG | S_IRWXO) : (S_IWGRP | S_IXGRP | S_IRWXO);
  if ((st.st_mode & forbidden) != 0) {
    return PermissionDenied(key + " " + path + " has mode " + Octal(st.st_mode) +
                                "; PostgreSQL refuses a private key others may read (at most 0600 "
                                "when owned by " + user + ", 0640 when owned by root)",
                            fix);
  }
  return Status::Ok();
}

Status CheckTlsFiles(const PgTls& tls, uid_t euid) {
  if (!tls.enabled()) return Status::Ok();
  if (Status s = CheckCertificateFile("postgresql.tls.cert_file", tls.cert_file); !s.ok()) return s;
  if (!tls.ca_file.empty()) {
    if (Status s = CheckCertificateFile("postgresql.tls.ca_file", tls.ca_file); !s.ok()) return s;
  }
  if (Status s = CheckPrivateKeyFile(tls.key_file, euid); !s.ok()) return s;
  auto key = ReadTlsFile("postgresql.tls.key_file", tls.key_file);
  if (!key.ok()) return key.error();
  const std::string& text = *key;
  if (text.find("-----BEGIN ") == std::string::npos ||
      text.find("PRIVATE KEY-----") == std::string::npos) {
    return InvalidArgument("postgresql.tls.key_file " + tls.key_file + " holds no PEM private key",
                           "give the key in PEM form ('-----BEGIN PRIVATE KEY-----')");
  }
  if (text.find("ENCRYPTED PRIVATE KEY") != std::string::npos ||
      text.find("Proc-Type: 4,ENCRYPTED") != std::string::npos) {
    return InvalidArgument("postgresql.tls.key_file " + tls.key_file +
                               " is encrypted; PostgreSQL would need a passphrase to start",
                           "store it unencrypted with mode 0600: openssl pkey -in " + tls.key_file +
                               " -out NEWFILE");
  }
  return Status::Ok();
}

}  // namespace pgpilot
