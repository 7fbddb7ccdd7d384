// A libpq connection that returns errors as values: queries with parameters, text results.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/result.h"

struct pg_conn;

namespace pgpilot {

using PgRow = std::vector<std::optional<std::string>>;

struct PgError {
  std::string sqlstate;  // e.g. "42710"; empty for connection failures
  std::string message;
};

class PgConnection {
 public:
  // Connects with a keyword/value connection string (secrets via passfile, never inline).
  static Result<PgConnection> Connect(const std::string& conninfo);
  PgConnection(PgConnection&& other) noexcept;
  PgConnection& operator=(PgConnection&& other) noexcept;
  ~PgConnection();

  bool healthy() const;
  // Runs a statement with text parameters; returns the rows (empty for commands).
  Result<std::vector<PgRow>> Query(const std::string& sql,
                                   const std::vector<std::string>& params = {});
  // The SQLSTATE of the last failed Query, if any.
  const std::string& last_sqlstate() const { return last_sqlstate_; }
  // A SCRAM verifier for `password`, computed here so the password never reaches the server.
  Result<std::string> EncryptPassword(const std::string& password, const std::string& user);
  std::string QuoteIdentifier(const std::string& identifier);
  std::string QuoteLiteral(const std::string& literal);

 private:
  explicit PgConnection(pg_conn* conn) : conn_(conn) {}
  pg_conn* conn_ = nullptr;
  std::string last_sqlstate_;
};

}  // namespace pgpilot
