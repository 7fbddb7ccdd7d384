#include "postgres/pg_connection.h"

#include <libpq-fe.h>

namespace pgpilot {
namespace {

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

}  // namespace

Result<PgConnection> PgConnection::Connect(const std::string& conninfo) {
  PGconn* conn = PQconnectdb(conninfo.c_str());
  if (conn == nullptr) return Unavailable("libpq could not allocate a connection");
  if (PQstatus(conn) != CONNECTION_OK) {
    std::string err = Trim(PQerrorMessage(conn));
    PQfinish(conn);
    return Unavailable(err);
  }
  return PgConnection(conn);
}

PgConnection::PgConnection(PgConnection&& other) noexcept : conn_(other.conn_) { other.conn_ = nullptr; }

PgConnection& PgConnection::operator=(PgConnection&& other) noexcept {
  if (this != &other) {
    if (conn_) PQfinish(conn_);
    conn_ = other.conn_;
    other.conn_ = nullptr;
  }
  return *this;
}

PgConnection::~PgConnection() {
  if (conn_) PQfinish(conn_);
}

bool PgConnection::healthy() const { return conn_ && PQstatus(conn_) == CONNECTION_OK; }

Result<std::vector<PgRow>> PgConnection::Query(const std::string& sql,
                                               const std::vector<std::string>& params) {
  last_sqlstate_.clear();
  if (!conn_) return Unavailable("not connected");
  std::vector<const char*> values;
  for (const auto& p : params) values.push_back(p.c_str());
  PGresult* res = PQexecParams(conn_, sql.c_str(), static_cast<int>(values.size()), nullptr,
                               values.data(), nullptr, nullptr, 0);
  ExecStatusType st = PQresultStatus(res);
  if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
    const char* state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    last_sqlstate_ = state ? state : "";
    std::string err = Trim(PQerrorMessage(conn_));
    PQclear(res);
    if (PQstatus(conn_) != CONNECTION_OK) return Unavailable(err);
    return FailedPrecondition(err);
  }
  std::vector<PgRow> rows;
  int n = PQntuples(res), cols = PQnfields(res);
  for (int r = 0; r < n; ++r) {
    PgRow row;
    for (int c = 0; c < cols; ++c) {
      if (PQgetisnull(res, r, c)) row.push_back(std::nullopt);
      else row.push_back(std::string(PQgetvalue(res, r, c)));
    }
    rows.push_back(std::move(row));
  }
  PQclear(res);
  return rows;
}

Result<std::string> PgConnection::EncryptPassword(const std::string& password, const std::string& user) {
  char* verifier = PQencryptPasswordConn(conn_, password.c_str(), user.c_str(), "scram-sha-256");
  if (verifier == nullptr) return Internal("cannot compute a SCRAM verifier: " + Trim(PQerrorMessage(conn_)));
  std::string out = verifier;
  PQfreemem(verifier);
  return out;
}

std::string PgConnection::QuoteIdentifier(const std::string& identifier) {
  char* q = PQescapeIdentifier(conn_, identifier.c_str(), identifier.size());
  std::string out = q ? q : "";
  PQfreemem(q);
  return out;
}

std::string PgConnection::QuoteLiteral(const std::string& literal) {
  char* q = PQescapeLiteral(conn_, literal.c_str(), literal.size());
  std::string out = q ? q : "";
  PQfreemem(q);
  return out;
}

}  // namespace pgpilot
